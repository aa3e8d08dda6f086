"""Failures end in their documented state, seen through the client and in the stored state,
and are recovered after a fix deployed in a new worker: a task hanging past its timeout, a task
exhausting its retries, workflow code that raises, a non-deterministic change mid-run.

(tests/workflows/test_workflows.py covers a failed task and a non-deterministic change fixed
within one worker; here the fix is another implementation, in another worker.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from infinitic import InfiniticWorker, WorkflowFailedError
from tests.faults.fault_apps import (
    RECORD_ENV,
    FragileFlow,
    fragile_config,
    poll_until,
    read_states,
    redis_storage,
)

WAIT = 60


@pytest.fixture(
    params=[
        pytest.param("embedded", id="embedded"),
        pytest.param("pulsar", id="pulsar", marks=[pytest.mark.pulsar, pytest.mark.redis]),
    ]
)
def setup(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any, Path]:
    """(transport, storage, the file each task execution is recorded in)."""
    record = tmp_path / f"executions-{uuid.uuid4().hex[:6]}.txt"
    monkeypatch.setenv(RECORD_ENV, str(record))
    if request.param == "embedded":
        return "inMemory", {"sqlite": {"path": str(tmp_path / "state.db")}}, record
    transport = request.getfixturevalue("pulsar_transport")
    return transport, redis_storage(request.getfixturevalue("redis_server")), record


@contextmanager
def deployed(setup: tuple[Any, Any, Path], service: str, workflow: str) -> Iterator[Any]:
    """A worker running these implementations; its client, for this deployment."""
    transport, storage, _ = setup
    config = fragile_config(transport, storage, service, workflow)
    with InfiniticWorker.from_config(config) as worker:
        yield worker.client


def stored_status(setup: tuple[Any, Any, Path], workflow_id: str, status: str) -> Any:
    """The stored state once it has `status`: the engine tells the client before it saves."""
    seen: list[Any] = [None]

    def reached() -> bool:
        seen[0] = state_of_or_none(setup, workflow_id)
        return seen[0] is not None and seen[0].status == status

    poll_until(reached, WAIT, f"{workflow_id} is not stored as {status}")
    return seen[0]


def attempts(setup: tuple[Any, Any, Path], task_id: str) -> list[tuple[int, int]]:
    """(retry index, retry sequence) of each execution of the task, in order."""
    lines = setup[2].read_text().splitlines() if setup[2].exists() else []
    return [(int(p[1]), int(p[2])) for p in (line.split() for line in lines) if p[0] == task_id]


def failed_task(state: Any) -> Any:
    assert state.status == "failed"
    (task,) = [c for run in state.method_runs for c in run.commands if c.status == "failed"]
    return task


def test_a_task_hanging_past_its_timeout_then_fixed_and_retried(
    setup: tuple[Any, Any, Path],
) -> None:
    with deployed(setup, "FragileServiceImpl", "FragileFlowImpl") as client:
        handle = client.dispatch(client.new_workflow(FragileFlow).hanging)
        with pytest.raises(WorkflowFailedError) as info:
            handle.result(timeout=WAIT)
        assert "TaskFailedError" in str(info.value) and "runtime timeout of 0.3s" in str(info.value)
        state = stored_status(setup, handle.id, "failed")
    task = failed_task(state)
    assert task.error.name == "infinitic.errors.TimeoutError"
    assert state.method_runs[0].error.name == "infinitic.errors.TaskFailedError"
    assert attempts(setup, task.command_id) == [(0, 0), (1, 0)]  # one retry, then failed
    with deployed(setup, "FragileServiceFixed", "FragileFlowImpl") as client:
        stub = client.get_workflow_by_id(FragileFlow, handle.id)
        with pytest.raises(WorkflowFailedError):  # still failed, seen from the new worker
            client.wait(stub, timeout=WAIT)
        client.retry_tasks(stub)
        assert client.wait(stub, timeout=WAIT) == "h answered"
        stored_status(setup, handle.id, "completed")
    assert attempts(setup, task.command_id)[2:] == [(0, 1)]  # retry index reset, sequence 1


def test_a_task_exhausting_its_retries_then_fixed_and_retried(
    setup: tuple[Any, Any, Path],
) -> None:
    with deployed(setup, "FragileServiceImpl", "FragileFlowImpl") as client:
        handle = client.dispatch(client.new_workflow(FragileFlow).flaky)
        with pytest.raises(WorkflowFailedError) as info:
            handle.result(timeout=WAIT)
        assert "ConnectionError" in str(info.value) and "attempt 2" in str(info.value)
        task = failed_task(stored_status(setup, handle.id, "failed"))
    assert task.error.name.endswith("ConnectionError") and "attempt 2" in task.error.message
    assert attempts(setup, task.command_id) == [(0, 0), (1, 0), (2, 0)]
    with deployed(setup, "FragileServiceFixed", "FragileFlowImpl") as client:
        stub = client.get_workflow_by_id(FragileFlow, handle.id)
        client.retry_tasks(stub)
        assert client.wait(stub, timeout=WAIT) == "db up at retry 0, sequence 1"


def test_workflow_code_that_raises_then_fixed_and_retried(setup: tuple[Any, Any, Path]) -> None:
    with deployed(setup, "FragileServiceImpl", "FragileFlowImpl") as client:
        handle = client.dispatch(client.new_workflow(FragileFlow).buggy, 0)
        with pytest.raises(WorkflowFailedError, match="ZeroDivisionError"):
            handle.result(timeout=WAIT)
        state = stored_status(setup, handle.id, "failed")
    assert state.method_runs[0].error.name.endswith("ZeroDivisionError")
    assert [c.status for c in state.method_runs[0].commands] == ["completed"]  # the task kept
    with deployed(setup, "FragileServiceImpl", "FragileFlowFixed") as client:
        stub = client.get_workflow_by_id(FragileFlow, handle.id)
        client.retry_workflow_task(stub)
        assert client.wait(stub, timeout=WAIT) == 100


def test_a_non_deterministic_change_deployed_mid_run_then_rolled_back(
    setup: tuple[Any, Any, Path],
) -> None:
    with deployed(setup, "FragileServiceImpl", "FragileFlowImpl") as client:
        handle = client.dispatch(client.new_workflow(FragileFlow).evolving)
        poll_until(
            lambda: _waits_on_timer(state_of_or_none(setup, handle.id)),
            WAIT,
            "the workflow never reached its timer",
        )
    with deployed(setup, "FragileServiceImpl", "FragileFlowChanged") as client:
        stub = client.get_workflow_by_id(FragileFlow, handle.id)
        client.complete_timers(stub)  # the running instance replays on the changed code
        with pytest.raises(WorkflowFailedError, match="was changed since it started"):
            client.wait(stub, timeout=WAIT)
        state = stored_status(setup, handle.id, "failed")
    assert state.method_runs[0].error.name.endswith("WorkflowUpdatedError")
    # the failed replay changed nothing: the history is the one the original code made
    assert [c.kind for c in state.method_runs[0].commands] == ["task", "timer"]
    with deployed(setup, "FragileServiceImpl", "FragileFlowImpl") as client:
        stub = client.get_workflow_by_id(FragileFlow, handle.id)
        client.retry_workflow_task(stub)
        assert client.wait(stub, timeout=WAIT) == 3


def state_of_or_none(setup: tuple[Any, Any, Path], workflow_id: str) -> Any:
    return read_states(setup[1], "FragileFlow", [workflow_id])[workflow_id]


def _waits_on_timer(state: Any) -> bool:
    return state is not None and any(
        c.kind == "timer" and c.status == "ongoing"
        for run in state.method_runs
        for c in run.commands
    )
