"""Long method runs are kept alive between workflow tasks instead of being replayed each step.

The test suite sets INFINITIC_VERIFY_LIVE_RUNS=1: every step of a live run is also replayed from
the start, and a difference fails the workflow; so each test here also checks that a live run
does exactly what a replay does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infinitic import InfiniticWorker
from infinitic.common.workflow_messages import WorkflowState
from infinitic.executors import live_runs, workflow_task
from tests.helpers import SERVICES
from tests.live_workflows import (
    AsyncLongWorkflow,
    AsyncLongWorkflowImpl,
    LongWorkflow,
    LongWorkflowImpl,
)
from tests.workflow_probe import is_waiting, probe_for, wait_until_waiting, waits_after_signals

WAIT = 60


# the same long workflow with sync methods and with `async def` methods (live_workflows.py)
@pytest.fixture(
    params=[(LongWorkflow, LongWorkflowImpl), (AsyncLongWorkflow, AsyncLongWorkflowImpl)],
    ids=["sync", "async"],
)
def long(request: pytest.FixtureRequest) -> tuple[type, Any]:
    return request.param  # type: ignore[no-any-return]


def _config(setup: tuple[Any, Any], **workflow_extra: Any) -> dict[str, Any]:
    transport, storage = setup
    workflows = [
        {"name": "Long", "class": "tests.live_workflows.LongWorkflowImpl", **workflow_extra},
        {"name": "AsyncLong", "class": "tests.live_workflows.AsyncLongWorkflowImpl"},
    ]
    return {
        "name": "live-worker",
        "transport": transport,
        "storage": storage,
        "services": SERVICES,
        "workflows": workflows,
    }


@pytest.fixture
def long_worker(setup: tuple[Any, Any]) -> Iterator[InfiniticWorker]:
    with InfiniticWorker.from_config(_config(setup)) as worker:
        probe_for(worker)
        yield worker


def test_a_long_run_completes_as_its_replay_would(
    long_worker: InfiniticWorker, long: tuple[type, Any]
) -> None:
    flow = long_worker.client.new_workflow(long[0])
    assert flow.steps(3 * live_runs.LIVE_MIN_COMMANDS) == sum(
        range(3 * live_runs.LIVE_MIN_COMMANDS)
    )


def test_a_long_run_is_not_replayed_at_every_step(
    long_worker: InfiniticWorker, monkeypatch: pytest.MonkeyPatch, long: tuple[type, Any]
) -> None:
    monkeypatch.setattr(workflow_task, "VERIFY_LIVE", False)  # its replays would be counted
    interface, impl = long
    impl.created = 0
    steps = 80
    assert long_worker.client.new_workflow(interface).steps(steps) == sum(range(steps))
    # a replay per task until the run has LIVE_MIN_COMMANDS commands, then one live instance
    # (each timer adds a command, so it is live a little sooner)
    assert impl.created <= live_runs.LIVE_MIN_COMMANDS + 1
    assert impl.created < steps // 2


def _waits_on_a_receive(state: WorkflowState) -> bool:
    return is_waiting(state) and any(
        cmd.kind == "receive" and cmd.status == "ongoing"
        for run in state.method_runs
        for cmd in run.commands
    )


def test_signals_and_other_method_runs_reach_a_live_run(
    long_worker: InfiniticWorker, long: tuple[type, Any]
) -> None:
    client = long_worker.client
    n = live_runs.LIVE_MIN_COMMANDS + 4
    handle = client.dispatch(client.new_workflow(long[0]).steps_then_signals, n, 2)
    stub = client.get_workflow_by_id(long[0], handle.id)
    wait_until_waiting(long_worker, stub, _waits_on_a_receive)
    assert stub.add(100) == n + 100  # another method run changes the shared properties
    stub.bumps.send(7)
    wait_until_waiting(long_worker, stub, waits_after_signals(1))
    stub.bumps.send(8)
    assert handle.result(timeout=WAIT) == [n + 100 + 7 + 8, 7, 8]


def test_runs_evicted_for_lack_of_room_are_replayed(
    setup: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_runs, "DEFAULT_CAPACITY", 1)
    with InfiniticWorker.from_config(_config(setup, concurrency=2)) as worker:
        flow = worker.client.new_workflow(LongWorkflow)
        steps = 2 * live_runs.LIVE_MIN_COMMANDS
        handles = [worker.client.dispatch(flow.steps, steps + i) for i in range(3)]
        assert [h.result(timeout=WAIT) for h in handles] == [
            sum(range(steps + i)) for i in range(3)
        ]


def test_a_second_live_run_of_the_same_key_evicts_the_first() -> None:
    class Stub:
        finished = False
        evicted = 0

        def evict(self) -> None:
            self.evicted += 1

    runs = live_runs.LiveRuns(capacity=4)
    first, second = Stub(), Stub()
    runs.keep(("wf", "run"), first)  # type: ignore[arg-type]
    runs.keep(("wf", "run"), second)  # type: ignore[arg-type]
    assert (first.evicted, second.evicted, len(runs)) == (1, 0, 1)
    assert runs.take(("wf", "run")) is second
