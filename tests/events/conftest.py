"""Shared by the event and metrics tests: the worker's config, its setups, the parent's run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infinitic import InfiniticWorker
from tests.events import event_apps as apps

WAIT = 30
SETUPS = [
    pytest.param(("inMemory", "inMemory"), id="inMemory"),
    pytest.param(("inMemory", "sqlite"), id="sqlite"),
    pytest.param(
        ("sqlite", "sqlite"), id="sqlite-transport"
    ),  # `transport: sqlite`: the state's file
    pytest.param(("pulsar", "inMemory"), id="pulsar", marks=pytest.mark.pulsar),
    pytest.param(("inMemory", "redis"), id="redis", marks=pytest.mark.redis),
    pytest.param(("inMemory", "mysql"), id="mysql", marks=pytest.mark.mysql),
]


def config(transport: Any, storage: Any, listener: str | None, **extra: Any) -> dict[str, Any]:
    """The worker of event_apps; `listener` names a class of event_apps (None: no listener)."""
    listen = {"eventListener": {"class": f"tests.events.event_apps.{listener}"}} if listener else {}
    return {
        "name": "events-worker",
        "transport": transport,
        "storage": storage,
        "services": [
            {
                "name": "EvTasks",
                "class": "tests.events.event_apps.EvTasksImpl",
                "concurrency": 4,
                "retry": {"maximumRetries": 0},
            },
            {
                "name": "EvFlaky",
                "class": "tests.events.event_apps.EvFlakyImpl",
                "retry": {
                    "minimumSeconds": 0.01,
                    "maximumSeconds": 0.02,
                    "randomFactor": 0,
                    "maximumRetries": 1,
                },
            },
            {"name": "EvDelegated", "class": "tests.events.event_apps.EvDelegatedImpl"},
        ],  # fmt: skip
        "workflows": [
            {"name": "EvParent", "class": "tests.events.event_apps.EvParentImpl"},
            {"name": "EvChild", "class": "tests.events.event_apps.EvChildImpl", "concurrency": 2},
        ],
        # EvTasks.slow still runs when a test closes its worker: abandoned at once, not after
        # the default 5 s (what the listener has not taken by then waits no longer either)
        "shutdownGracePeriodSeconds": 0.1,
        **listen,
        **extra,
    }


@pytest.fixture(params=SETUPS)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, Any]:
    transport, storage = request.param
    if transport == "pulsar":
        transport = request.getfixturevalue("pulsar_transport")
    if storage == "sqlite":
        storage = {"sqlite": {"path": str(tmp_path / "state.db")}}
    elif storage == "redis":
        server = request.getfixturevalue("redis_server")
        options = {k: v for k, v in server.storage_options().items() if v is not None}
        storage = {"redis": {**options, "keyPrefix": f"t{uuid.uuid4().hex[:8]}:"}}
    elif storage == "mysql":
        storage = {"mysql": request.getfixturevalue("mysql_endpoint").options()}
    return transport, storage


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    apps.Recorder.events = []
    apps.FailingRecorder.calls = 0
    apps.BrokenRecorder.calls = 0
    apps.SLOW_GATE.clear()
    apps.DELEGATED.clear()
    yield
    apps.SLOW_GATE.set()  # the slow task's thread ends before the worker closes


def until(
    condition: Callable[[], bool], what: str, detail: Callable[[], str] | None = None
) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            more = f" ({detail()})" if detail is not None else ""
            raise AssertionError(f"timed out waiting for {what}{more}")
        time.sleep(0.01)


def drained(worker: InfiniticWorker) -> bool:
    pipeline = worker.observability.pipeline
    assert pipeline is not None
    return pipeline.pending() == 0


def run_parent(worker: InfiniticWorker) -> str:
    """Runs EvParent, canceling its fourth child when it waits; returns the parent's id."""
    client = worker.client
    key = uuid.uuid4().hex
    handle = client.dispatch(client.new_workflow(apps.EvParent).run, key)
    ids: list[str] = []

    def child_started() -> bool:
        ids[:] = client.get_ids_by_tag(apps.EvChild, f"cancel-me:{key}")
        return bool(ids)

    until(child_started, "the child to cancel")
    client.cancel(client.get_workflow_by_id(apps.EvChild, ids[0]))
    assert handle.result(timeout=WAIT) == [
        2, "boom caught", "ok at retry 1", "slow timed out", "x", "crash caught", "hi",
        "child canceled", "child timed out", "pong",
    ]  # fmt: skip
    return handle.id
