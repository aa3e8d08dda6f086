"""shutdownGracePeriodSeconds: closing a worker gives the tasks it runs that long to end."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from infinitic import InfiniticClient, InfiniticWorker
from infinitic.client.handles import TaskHandle
from tests import sample_services as s
from tests.helpers import service
from tests.helpers.workers import config


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    s.RUNS.clear()
    s.GATE.clear()
    yield
    s.GATE.set()  # a task left blocked ends with the test


def _wait_for(condition: Callable[[], object], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


class DownListener:
    """An event listener whose backend is down: its events wait, retried, until the close."""

    def on_events(self, events: list[Any]) -> None:
        raise ConnectionError("listener backend down")


@contextmanager
def _blocked_task(
    channel: str, grace: float, **extra: Any
) -> Iterator[tuple[InfiniticWorker, TaskHandle[str]]]:
    """A worker running EchoService.block (until GATE is set), called by a separate client."""
    transport = {"inMemory": {"channel": channel}}
    worker = InfiniticWorker.from_config(
        {
            "name": channel,
            "transport": transport,
            "shutdownGracePeriodSeconds": grace,
            "services": [service("Echo", "EchoServiceImpl")],
            **extra,
        }
    )
    worker.start()
    try:
        with InfiniticClient.from_config(
            {"name": f"{channel}-client", "transport": transport}
        ) as client:
            handle = client.dispatch(client.new_service(s.EchoService).block)
            _wait_for(lambda: s.RUNS)  # the task is running
            yield worker, handle
    finally:
        worker.close()


def test_a_task_ending_within_the_grace_period_delivers_its_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="infinitic.worker"):
        with _blocked_task("grace-ends", grace=60.0) as (worker, handle):
            closing = threading.Thread(target=worker.close)
            closing.start()
            _wait_for(lambda: "waiting up to 60.0s for 1 running task" in caplog.text)
            assert closing.is_alive()  # the close waits for the task
            s.GATE.set()
            closing.join(timeout=30)
            assert not closing.is_alive()
            assert handle.result(timeout=15) == "released"


def test_a_task_longer_than_the_grace_period_does_not_hold_the_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with _blocked_task("grace-over", grace=0.2) as (worker, handle):
        closing = threading.Thread(target=worker.close)
        closing.start()
        closing.join(timeout=30)  # the task blocks for up to 60s
        assert not closing.is_alive()
        assert not handle.done()
    assert "tasks still running after 0.2s are abandoned" in caplog.text


def test_the_running_tasks_and_the_event_listener_share_one_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    grace = 1.5
    listener = {"eventListener": {"class": f"{__name__}.DownListener"}}
    with caplog.at_level(logging.INFO, logger="infinitic"):
        with _blocked_task("grace-shared", grace, **listener) as (worker, _):
            pipeline = worker.observability.pipeline
            assert pipeline is not None
            _wait_for(pipeline.pending)  # the listener refuses what it is given
            started = time.monotonic()
            worker.close()
            took = time.monotonic() - started
    # the blocked task took the whole period: none of it is left for the listener
    assert "abandoned" in caplog.text
    assert "the event listener gets up to 0.0s" in caplog.text
    # each had a whole period of its own before: the close took at least two
    assert took < 2 * grace


def test_a_transport_that_fails_to_close_does_not_leave_the_storage_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = InfiniticWorker.from_config(config())
    worker.start()
    storage, closed = worker.storage, threading.Event()
    close_storage, close_transport = storage.close, worker.transport.close

    async def closing_storage() -> None:
        closed.set()
        await close_storage()

    async def failing_close() -> None:
        await close_transport()  # what it has is let go (the channel is the process's)
        raise ConnectionError("the broker went away")

    monkeypatch.setattr(storage, "close", closing_storage)
    monkeypatch.setattr(worker.transport, "close", failing_close)
    with pytest.raises(ConnectionError, match="the broker went away"):
        worker.close()
    assert closed.is_set()


def test_a_client_whose_transport_fails_to_close_still_lets_its_runtime_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = InfiniticClient.from_config({"name": "closing-client", "transport": "inMemory"})
    runtime = client._runtime
    users = runtime._users
    close_transport = client._transport.close

    async def failing_close() -> None:
        await close_transport()
        raise ConnectionError("the broker went away")

    monkeypatch.setattr(client._transport, "close", failing_close)
    with pytest.raises(ConnectionError, match="the broker went away"):
        client.close()
    assert runtime._users == users - 1  # released all the same: its thread is not kept
