"""Catalog §H: timeouts (Infinitic's `TimeoutsWorkflowTests`), on each home.

A timeout declared on an interface (`@timeout` on its method, or the interface implementing
`WithTimeout`) is the callers' deadline: a client call raises `infinitic.TimeoutError`, a
workflow's call raises it in the workflow (Infinitic's `WorkflowTimedOutException` and
`TaskTimedOutException`). A timeout on the implementation is the runtime timeout of each
attempt: the task fails (`TaskFailedError`) once its retries are spent.
"""

from __future__ import annotations

import pytest

from infinitic import (
    DeferredStatus,
    InfiniticClient,
    TimeoutError,
    WorkflowFailedError,
)
from infinitic.common.workflow_messages import WorkflowState
from tests.scenarios.areas.timeouts import (
    MANAGED,
    ITimeoutWorkflow,
    TimeoutService,
    TimeoutsWorkflow,
)
from tests.scenarios.conftest import Home
from tests.scenarios.shared import UtilService

RESULT_TIMEOUT = 30
WORKFLOW_NAME = f"{TimeoutsWorkflow.__module__}.{TimeoutsWorkflow.__qualname__}"
UTIL_NAME = f"{UtilService.__module__}.{UtilService.__qualname__}"
TIMEOUT_SERVICE = f"{TimeoutService.__module__}.{TimeoutService.__qualname__}"
TIMEOUT_NAME = "infinitic.errors.TimeoutError"


def _workflow(client: InfiniticClient) -> TimeoutsWorkflow:
    return client.new_workflow(TimeoutsWorkflow)


def _failure(
    client: InfiniticClient, method: object, *args: object
) -> tuple[str, WorkflowFailedError]:
    """Dispatches `method(*args)` and returns the instance's id and the failure it ends with."""
    handle = client.dispatch(method, *args)
    with pytest.raises(WorkflowFailedError) as caught:
        handle.result(timeout=RESULT_TIMEOUT)
    return handle.id, caught.value


def test_child_running_longer_than_its_timeout_throws(client: InfiniticClient) -> None:
    """H1 `Synchronous call of a child-workflow running for more than its timeout should
    throw`: the parent fails on the child's deadline (1 s), a TimeoutError naming the child's
    workflow and method."""
    _, failed = _failure(client, _workflow(client).with_timeout_on_child, 2000)
    error = failed.last_error  # type: ignore[attr-defined]
    assert error.name == TIMEOUT_NAME
    assert f"{WORKFLOW_NAME}.with_timeout_on_method" in error.message


def test_workflow_running_longer_than_its_timeout_throws(client: InfiniticClient) -> None:
    """H2 `Synchronous call of a workflow running for more than its timeout should throw`:
    the client's call raises TimeoutError at the interface's 1 s deadline."""
    with pytest.raises(TimeoutError):
        _workflow(client).with_timeout_on_method(3000)


def test_workflow_running_less_than_its_timeout_does_not_throw(client: InfiniticClient) -> None:
    """H3 `Synchronous call of a workflow running for less than its timeout should NOT
    throw`."""
    assert _workflow(client).with_timeout_on_method(10) == 10


def test_child_running_less_than_its_timeout_does_not_throw(client: InfiniticClient) -> None:
    """H4 `Synchronous call of a child-workflow running for less than its timeout should NOT
    throw`."""
    assert _workflow(client).with_timeout_on_child(10) == 10


def test_timeout_on_a_child_can_be_caught(client: InfiniticClient) -> None:
    """H5 `timeout triggered on a synchronous child can be caught`."""
    assert _workflow(client).with_caught_timeout_on_child(2000) == -1
    assert _workflow(client).with_caught_timeout_on_task(10) == 10


def _ended(state: WorkflowState) -> bool:
    return state.status in ("completed", "canceled")


def test_timed_out_child_completing_late_resumes_the_parent(home: Home) -> None:
    """H6 `Workflow with Timed out child will continue if child completes after the timeout`:
    the deadline does not cancel the child; its late result un-fails the parent, which then
    completes with it."""
    client = home.client
    workflow_id, _ = _failure(client, _workflow(client).with_timeout_on_child, 2000)
    home.wait_until(workflow_id, _ended)
    instance = client.get_workflow_by_id(TimeoutsWorkflow, workflow_id)
    assert client.wait(instance, timeout=RESULT_TIMEOUT) == 2000


def test_timeout_on_a_task_throws(client: InfiniticClient) -> None:
    """H7 `timeout triggered in a synchronous task should throw`: the task's interface
    declares a deadline (0.5 s here, 0.1 s in Infinitic); the workflow fails with a
    TimeoutError naming the task."""
    _, failed = _failure(client, _workflow(client).with_timeout_on_task, 2000)
    error = failed.last_error  # type: ignore[attr-defined]
    assert error.name == TIMEOUT_NAME
    assert f"{TIMEOUT_SERVICE}.with_service_timeout" in error.message


def test_task_faster_than_its_timeout_does_not_throw(client: InfiniticClient) -> None:
    """H8 `timeout on a synchronous task should NOT throw if slower than the task`."""
    assert _workflow(client).with_timeout_on_task(10) == 10


def test_runtime_timeout_of_a_task_is_manageable(client: InfiniticClient) -> None:
    """H9 `timeout triggered in a synchronous task should be manageable`: at the runtime
    timeout the task's on_timeout callback runs and the task sees `task.has_timed_out`; it
    still fails (TaskFailedError: its result after the timeout is ignored)."""
    MANAGED.on_timeout = MANAGED.has_timed_out = False
    _, failed = _failure(client, _workflow(client).with_managed_timeout_on_task_execution)
    assert failed.last_error.name == "infinitic.errors.TaskFailedError"  # type: ignore[attr-defined]
    assert MANAGED.on_timeout
    assert MANAGED.has_timed_out


def test_runtime_timeout_of_a_task_throws_a_task_failure(client: InfiniticClient) -> None:
    """H10 `Execution timeout triggered in a synchronous task should throw`: a timeout on the
    implementation fails the task (TaskFailedError, not TimeoutError), after its retry."""
    _, failed = _failure(client, _workflow(client).with_timeout_on_task_execution, 2000)
    error = failed.last_error  # type: ignore[attr-defined]
    assert error.name == "infinitic.errors.TaskFailedError"
    assert f"{UTIL_NAME}.with_execution_timeout" in error.message


def test_runtime_timeout_not_reached_does_not_throw(client: InfiniticClient) -> None:
    """H11 `Execution timeout on a synchronous task should NOT throw if slower than the
    task`."""
    assert _workflow(client).with_timeout_on_task_execution(10) == 10


def test_timeout_on_a_task_can_be_caught(client: InfiniticClient) -> None:
    """H12 `timeout triggered on a synchronous task can be caught`."""
    assert _workflow(client).with_caught_timeout_on_task(2000) == -1
    assert _workflow(client).with_caught_timeout_on_task(10) == 10


def _running(state: WorkflowState) -> bool:
    return state.status == "running"


def test_timed_out_task_can_be_retried_manually(home: Home) -> None:
    """H13 `Workflow with Timed out task can be retried manually`: `retry_tasks` with
    `task_status=TIMED_OUT` runs the task again (its retry sequence 1), and the workflow
    completes with it."""
    client = home.client
    workflow_id, _ = _failure(client, _workflow(client).with_manual_retry)
    instance = client.get_workflow_by_id(TimeoutsWorkflow, workflow_id)
    client.retry_tasks(instance, task_status=DeferredStatus.TIMED_OUT)
    home.wait_until(workflow_id, _running)
    assert client.wait(instance, timeout=RESULT_TIMEOUT) == 1


def test_with_timeout_interface_throws_when_reached(client: InfiniticClient) -> None:
    """H14 `Timeout defined with WithTimeout interface should throw if timeout is reached`:
    the interface's `get_timeout_in_seconds` (1 s) is the client's deadline (here the method
    takes 2 s, where Infinitic's takes 1 s: a margin for a loaded machine)."""
    with pytest.raises(TimeoutError):
        client.new_workflow(ITimeoutWorkflow).with_timeout_on_method(2000)


def test_with_timeout_interface_does_not_throw_when_not_reached(client: InfiniticClient) -> None:
    """H15 `Timeout defined with WithTimeout interface should not throw if timeout is not
    reached`."""
    assert client.new_workflow(ITimeoutWorkflow).with_timeout_on_method(10) == 10
