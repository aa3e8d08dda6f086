"""The event listener: every event type of one workflow, each once; a failing listener."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infinitic import InfiniticWorker
from infinitic.events import types
from tests.events import event_apps as apps

WAIT = 30
SETUPS = [
    pytest.param(("inMemory", "inMemory"), id="inMemory"),
    pytest.param(("inMemory", "sqlite"), id="sqlite"),
    pytest.param(("pulsar", "inMemory"), id="pulsar", marks=pytest.mark.pulsar),
    pytest.param(("inMemory", "redis"), id="redis", marks=pytest.mark.redis),
    pytest.param(("inMemory", "mysql"), id="mysql", marks=pytest.mark.mysql),
]

# what EvParent.run makes happen (event_apps.py), by type; the executor events are checked apart
EXPECTED = {
    "infinitic.task.dispatch": 4,  # ok, boom, flaky, slow
    "infinitic.task.started": 5,  # flaky twice
    "infinitic.task.completed": 2,  # ok, flaky (slow still runs when counted)
    "infinitic.task.failed": 1,
    "infinitic.task.retryScheduled": 1,
    "infinitic.workflow.dispatch": 6,  # the parent and its five children
    "infinitic.workflow.dispatchMethod": 1,  # ping
    "infinitic.workflow.started": 6,
    "infinitic.workflow.completed": 3,  # the parent, echo, listen
    "infinitic.workflow.failed": 1,  # crash
    "infinitic.workflow.canceled": 1,
    "infinitic.workflow.methodCompleted": 4,  # run, echo, listen, ping
    "infinitic.workflow.methodFailed": 1,
    "infinitic.workflow.methodCanceled": 1,
    "infinitic.workflow.methodTimedOut": 1,
    "infinitic.workflow.taskDispatched": 4,
    "infinitic.workflow.taskCompleted": 2,
    "infinitic.workflow.taskFailed": 1,
    "infinitic.workflow.taskTimedOut": 1,
    "infinitic.workflow.remoteMethodDispatched": 6,  # five children and ping
    "infinitic.workflow.remoteMethodCompleted": 3,  # echo, listen, ping
    "infinitic.workflow.remoteMethodFailed": 1,
    "infinitic.workflow.remoteMethodCanceled": 1,
    "infinitic.workflow.remoteMethodTimedOut": 1,
    "infinitic.workflow.timerDispatched": 1,
    "infinitic.workflow.timerCompleted": 1,
    "infinitic.workflow.signalDispatched": 2,
    "infinitic.workflow.signalReceived": 1,
    "infinitic.workflow.signalDiscarded": 1,
    "infinitic.workflow.executorFailed": 1,  # crash
}


def config(transport: Any, storage: Any, listener: str, **extra: Any) -> dict[str, Any]:
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
        ],  # fmt: skip
        "workflows": [
            {"name": "EvParent", "class": "tests.events.event_apps.EvParentImpl"},
            {"name": "EvChild", "class": "tests.events.event_apps.EvChildImpl", "concurrency": 2},
        ],
        "eventListener": {"class": f"tests.events.event_apps.{listener}"},
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
    yield
    apps.SLOW_GATE.set()  # the slow task's thread ends before the worker closes


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
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


def test_every_event_type_once(setup: tuple[Any, Any]) -> None:
    transport, storage = setup
    with InfiniticWorker.from_config(config(transport, storage, "Recorder")) as worker:
        parent_id = run_parent(worker)

        def all_heard() -> bool:
            seen = Counter(e.get_type() for e in apps.Recorder.events)
            return all(seen[t] >= n for t, n in EXPECTED.items()) and drained(worker)

        until(all_heard, "every event")
        time.sleep(0.2)  # noqa: ASYNC251 - a late duplicate would show within a flush or two
        events = list(apps.Recorder.events)
    counts = Counter(e.get_type() for e in events)
    assert {t: counts[t] for t in EXPECTED} == EXPECTED
    # every workflow task dispatched ended once, in a completion or a failure
    executors = counts["infinitic.workflow.executorDispatched"]
    assert executors >= 12
    assert counts["infinitic.workflow.executorCompleted"] + 1 == executors
    assert set(counts) == set(types.ALL_TYPES) - {types.TASK_DELEGATION_COMPLETED}
    assert len({(e.get_source(), e.get_id()) for e in events}) == len(events)  # no duplicate
    for e in events:
        assert e.get_specversion() == "1.0" and e.get_datacontenttype() == "application/json"
    parent = [e for e in events if e.get_subject() == parent_id]
    assert {e.get_source().rsplit("/", 2)[-2:][0] for e in parent} == {"stateEngine"}
    completed = next(e for e in parent if e.get_type() == "infinitic.workflow.completed")
    assert completed.get_source().endswith("/workflows/stateEngine/EvParent")
    task_done = next(e for e in parent if e.get_type() == "infinitic.workflow.taskCompleted")
    data = task_done.get_data()
    assert isinstance(data, dict)
    assert (
        data["taskCompleted"]["output"] == 2 and data["taskCompleted"]["serviceName"] == "EvTasks"
    )
    assert data["methodName"] == "run" and data["workflowName"] == "EvParent"
    failed = next(e for e in events if e.get_type() == "infinitic.task.failed")
    failure = failed.get_data()["failure"]  # type: ignore[index]
    assert failure["name"] == "ValueError" and failure["message"] == "boom"
    retry = next(e for e in events if e.get_type() == "infinitic.task.retryScheduled")
    assert retry.get_data()["secondsBeforeRetry"] == pytest.approx(0.01)  # type: ignore[index]
    assert retry.get_source().endswith("/services/executor/EvFlaky")
