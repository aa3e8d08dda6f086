"""Catalog §E (ErrorsWorkflowTests): failures, their chain, cancel, retry, unknown ids.

Infinitic's `deferredException` chain is `last_error` here: an ErrorInfo whose `name` is the
error type (infinitic.errors.TaskFailedError, WorkflowFailedError, CanceledError,
UnknownWorkflowError, or the workflow code's own exception), `.cause` the failure under it, and
`get_custom_property` the public attributes of the error (service_name, workflow_name, ...).
"""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import pytest

from infinitic import (
    CanceledError,
    DeferredStatus,
    InfiniticClient,
    WorkflowFailedError,
)
from tests.scenarios.areas.errors import ErrorsWorkflow
from tests.scenarios.conftest import Home, Later, eventually
from tests.scenarios.shared import UtilService, UtilWorkflow

UTIL = "tests.scenarios.shared.UtilService"
CHANNELS = "tests.scenarios.shared.ChannelsWorkflow"
ERRORS = "tests.scenarios.areas.errors.ErrorsWorkflow"
TASK_FAILED = "infinitic.errors.TaskFailedError"
WORKFLOW_FAILED = "infinitic.errors.WorkflowFailedError"
CUSTOM = "tests.scenarios.shared.CustomException"


# E16, E18, E24, E25 use client features built on branch scenarios-b (issue #12's other half:
# retry_tasks filters, dispatch by tag); they run as soon as it is merged
NEEDS_CLIENT_FILTERS = pytest.mark.skipif(
    "task_status" not in inspect.signature(InfiniticClient.retry_tasks).parameters,
    reason="needs retry_tasks(task_status=, task_class=) and dispatch by tag (branch scenarios-b)",
)


@pytest.fixture
def errors(client: InfiniticClient) -> ErrorsWorkflow:
    return client.new_workflow(ErrorsWorkflow, tags={"foo", "bar"})


def _failure(call: Any, *args: Any) -> WorkflowFailedError:
    with pytest.raises(WorkflowFailedError) as failure:
        call(*args)
    assert failure.value.last_error is not None
    return failure.value


def test_cancel_a_running_workflow(
    client: InfiniticClient, errors: ErrorsWorkflow, later: Later
) -> None:
    """E1: a client cancels a waiting instance; its caller gets CanceledError."""
    handle = client.dispatch(errors.waiting)
    stub = client.get_workflow_by_id(ErrorsWorkflow, handle.id)
    later.when_waiting(handle.id, lambda: client.cancel(stub))
    with pytest.raises(CanceledError):
        handle.result(timeout=30)


def test_a_direct_exception(errors: ErrorsWorkflow) -> None:
    """E2: the workflow code raises: the failure is its own exception."""
    error = _failure(errors.failing1).last_error
    assert error is not None
    assert (error.name, error.message) == ("Exception", "sorry 1")


def test_try_except_a_failing_task(errors: ErrorsWorkflow) -> None:
    """E3: a failing task (after its automatic retry) can be caught."""
    assert errors.failing2() == "ko"


def test_failing_task_on_main_path(errors: ErrorsWorkflow) -> None:
    """E4: workflow -> TaskFailedError (service named) -> the task's Exception."""
    error = _failure(errors.failing3).last_error
    assert error is not None and error.cause is not None
    assert error.name == TASK_FAILED
    assert error.get_custom_property("service_name") == UTIL
    assert (error.cause.name, error.cause.message) == ("Exception", "sorry")


def test_custom_properties_of_a_custom_exception(errors: ErrorsWorkflow) -> None:
    """E5: the task's exception attributes, and the previous attempt's failure."""
    error = _failure(errors.failing3b).last_error
    assert error is not None and error.cause is not None
    assert error.name == TASK_FAILED
    assert error.get_custom_property("service_name") == UTIL
    task_error = error.cause
    assert task_error.name == CUSTOM
    assert task_error.get_custom_property("custom_string") == "42"
    assert task_error.get_custom_property("custom_int") == 42
    assert task_error.get_custom_property("custom_list") == list(range(10))
    assert task_error.previous_error is not None  # one automatic retry: two attempts
    assert task_error.previous_error.name == CUSTOM


def test_custom_properties_of_a_nested_custom_exception(errors: ErrorsWorkflow) -> None:
    """E6: the cause of the task's exception, with its own attributes."""
    error = _failure(errors.failing3bb).last_error
    assert error is not None and error.cause is not None
    nested = error.cause.cause
    assert nested is not None
    assert nested.name == CUSTOM
    assert nested.get_custom_property("custom_string") == "42"


def test_failing_async_task_not_awaited(errors: ErrorsWorkflow) -> None:
    """E7: a failing task never awaited does not fail the method."""
    assert errors.failing2a() == 100


def test_failing_task_in_a_side_branch(errors: ErrorsWorkflow) -> None:
    """E8: a branch failing on a task does not fail the main method."""
    assert errors.failing4() == 100


def test_failing_code_in_a_side_branch(errors: ErrorsWorkflow) -> None:
    """E9: a branch raising does not fail the main method."""
    assert errors.failing5() == 100


def test_canceled_child_on_main_path(client: InfiniticClient) -> None:
    """E10: awaiting a child canceled meanwhile fails with CanceledError naming the child."""
    error = _failure(client.new_workflow(UtilWorkflow).cancel_child1).last_error
    assert error is not None
    assert error.name == "infinitic.errors.CanceledError"
    assert error.get_custom_property("workflow_name") == CHANNELS


def test_canceled_child_not_on_main_path(client: InfiniticClient) -> None:
    """E11: a canceled child that is never awaited does not fail the parent."""
    assert client.new_workflow(UtilWorkflow).cancel_child2() == 200


def test_failing_child_on_main_path(errors: ErrorsWorkflow) -> None:
    """E12: workflow -> WorkflowFailedError (the child) -> TaskFailedError -> Exception."""
    error = _failure(errors.failing7).last_error
    assert error is not None and error.cause is not None
    assert error.name == WORKFLOW_FAILED
    assert error.get_custom_property("workflow_name") == ERRORS
    assert error.cause.name == TASK_FAILED
    assert error.cause.get_custom_property("service_name") == UTIL
    assert error.cause.cause is not None and error.cause.cause.name == "Exception"


def test_failing_child_in_a_side_branch(errors: ErrorsWorkflow) -> None:
    """E13: a branch whose child fails does not fail the main method."""
    assert errors.failing7bis() == 100


def test_failing_child_names_its_method(client: InfiniticClient, errors: ErrorsWorkflow) -> None:
    """E14: the chain names the child's method that failed."""
    handle = client.dispatch(errors.failing7)
    with pytest.raises(WorkflowFailedError) as failure:
        handle.result(timeout=30)
    error = failure.value.last_error
    assert error is not None
    assert error.name == WORKFLOW_FAILED
    assert error.get_custom_property("workflow_name") == ERRORS
    assert error.get_custom_property("method_name") == "failing3"


def test_failing_child_can_be_caught(errors: ErrorsWorkflow) -> None:
    """E15: the workflow catches its child's failure and reads the chain."""
    assert errors.failing7ter() == "Exception"


def _first_failure(client: InfiniticClient, errors: ErrorsWorkflow) -> tuple[Any, Any]:
    handle = client.dispatch(errors.failing8)
    with pytest.raises(WorkflowFailedError) as failure:
        handle.result(timeout=30)
    error = failure.value.last_error
    assert error is not None and error.name == TASK_FAILED
    assert error.get_custom_property("service_name") == UTIL
    return client.get_workflow_by_id(ErrorsWorkflow, handle.id), error


@NEEDS_CLIENT_FILTERS
def test_retry_failed_tasks_by_status(client: InfiniticClient, errors: ErrorsWorkflow) -> None:
    """E16: a failed workflow stays; retrying its failed tasks makes it complete."""
    stub, _ = _first_failure(client, errors)
    client.retry_tasks(stub, task_status=DeferredStatus.FAILED)
    assert client.wait(stub, timeout=30) == "ok"


def test_retry_a_failed_task_by_id(client: InfiniticClient, errors: ErrorsWorkflow) -> None:
    """E17: the same, retrying the task by its id."""
    stub, error = _first_failure(client, errors)
    client.retry_tasks(stub, task_id=error.get_custom_property("task_id"))
    assert client.wait(stub, timeout=30) == "ok"


@NEEDS_CLIENT_FILTERS
def test_retry_a_failed_task_by_class(client: InfiniticClient, errors: ErrorsWorkflow) -> None:
    """E18: the same, retrying the tasks of a service interface."""
    stub, _ = _first_failure(client, errors)
    client.retry_tasks(stub, task_class=UtilService)
    assert client.wait(stub, timeout=30) == "ok"


@NEEDS_CLIENT_FILTERS
def test_retry_a_caught_failed_task(errors: ErrorsWorkflow) -> None:
    """E19: a caught failed task, retried, completes: its deferred goes failed -> completed."""
    assert errors.failing9() is True


def test_properties_after_a_failed_deferred(errors: ErrorsWorkflow) -> None:
    """E20: a branch's write is kept across an awaited failure."""
    assert errors.failing10() == "ok"


def test_sync_call_of_an_unknown_workflow(errors: ErrorsWorkflow) -> None:
    """E21: calling a method of an unknown instance fails with UnknownWorkflowError."""
    error = _failure(errors.failing11).last_error
    assert error is not None
    assert error.name == "infinitic.errors.UnknownWorkflowError"
    assert error.get_custom_property("workflow_name") == ERRORS
    assert error.get_custom_property("workflow_id") == "unknown"


def test_unknown_workflow_can_be_caught(errors: ErrorsWorkflow) -> None:
    """E22: UnknownWorkflowError can be caught in the workflow."""
    assert errors.failing12() == "caught"


def _ids(client: InfiniticClient, tag: str) -> list[str]:
    return client.get_ids_by_tag(ErrorsWorkflow, tag)


def test_canceling_a_parent_cancels_its_child(client: InfiniticClient) -> None:
    """E23: the child has the parent's tag; canceling by tag removes both from the index."""
    tag = f"toto-{uuid.uuid4().hex[:8]}"
    client.dispatch(client.new_workflow(ErrorsWorkflow, tags={tag}).failing13)
    eventually(lambda: _ids(client, tag), lambda ids: len(ids) == 2)
    client.cancel(client.get_workflow_by_tag(ErrorsWorkflow, tag))
    eventually(lambda: _ids(client, tag), lambda ids: ids == [])


@NEEDS_CLIENT_FILTERS
def test_sync_call_on_a_tag_stub_is_refused(client: InfiniticClient) -> None:
    """E24: a synchronous call needs one target: NotImplementedError at once."""
    tag = f"foo-{uuid.uuid4().hex[:8]}"
    client.dispatch(client.new_workflow(ErrorsWorkflow, tags={tag}).waiting)
    by_tag = client.get_workflow_by_tag(ErrorsWorkflow, tag)
    with pytest.raises(NotImplementedError):
        by_tag.waiting()
    client.cancel(by_tag)


@NEEDS_CLIENT_FILTERS
def test_dispatch_on_a_tag_stub_is_allowed(client: InfiniticClient) -> None:
    """E25: dispatching a method on a tag stub is allowed."""
    tag = f"foo-{uuid.uuid4().hex[:8]}"
    client.dispatch(client.new_workflow(ErrorsWorkflow, tags={tag}).waiting)
    by_tag = client.get_workflow_by_tag(ErrorsWorkflow, tag)
    client.dispatch(by_tag.waiting)
    client.cancel(by_tag)


def test_failed_workflow_stays_until_canceled(home: Home, client: InfiniticClient) -> None:
    """E16's premise (DESIGN §3): a failed instance keeps its state and tags, with no
    retention, until it is canceled; canceling it ends it and clears its tags."""
    tag = f"failed-{uuid.uuid4().hex[:8]}"
    handle = client.dispatch(client.new_workflow(ErrorsWorkflow, tags={tag}).failing3)
    with pytest.raises(WorkflowFailedError):
        handle.result(timeout=30)
    home.wait_until(handle.id, lambda state: state.status == "failed")
    assert client.get_ids_by_tag(ErrorsWorkflow, tag) == [handle.id]
    stub = client.get_workflow_by_id(ErrorsWorkflow, handle.id)
    client.cancel(stub)
    with pytest.raises(CanceledError):
        client.wait(stub, timeout=30)
    eventually(lambda: _ids(client, tag), lambda ids: ids == [])
