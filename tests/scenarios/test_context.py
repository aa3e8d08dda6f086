"""Catalog §J (ContextWorkflowTests): what workflows and tasks know about themselves."""

from __future__ import annotations

import pytest

from infinitic import InfiniticClient
from tests.scenarios.areas.children import ContextWorkflow

CONTEXT = "tests.scenarios.areas.children.ContextWorkflow"


@pytest.fixture
def context(client: InfiniticClient) -> ContextWorkflow:
    return client.new_workflow(ContextWorkflow, tags={"foo", "bar"}, meta={"foo": b"bar"})


def test_workflow_id_at_init(client: InfiniticClient, context: ContextWorkflow) -> None:
    """J1: `self.workflow_id` is readable in the implementation's __init__."""
    handle = client.dispatch(context.context1)
    assert handle.result(timeout=30) == handle.id


def test_workflow_tags_at_init(context: ContextWorkflow) -> None:
    """J2: `self.tags` in __init__."""
    assert context.context2() == ["bar", "foo"]


def test_workflow_meta_at_init(context: ContextWorkflow) -> None:
    """J3: `self.meta` in __init__, byte for byte."""
    assert context.context3() == {"foo": b"bar"}


def test_task_sees_the_workflow_id(client: InfiniticClient, context: ContextWorkflow) -> None:
    """J4: a task knows the id of the workflow that dispatched it."""
    handle = client.dispatch(context.context4)
    assert handle.result(timeout=30) == handle.id


def test_task_sees_the_workflow_name(context: ContextWorkflow) -> None:
    """J5: a task knows the name of the workflow that dispatched it."""
    assert context.context5() == CONTEXT


def test_task_sees_its_tags(context: ContextWorkflow) -> None:
    """J6: a task's tags are its stub's."""
    assert context.context6() == ["bar", "foo"]


def test_task_sees_its_meta(context: ContextWorkflow) -> None:
    """J7: a task's meta are its stub's bytes."""
    assert context.context7() == {"foo": b"bar"}


def test_task_sees_its_retry_policy_from_config(context: ContextWorkflow) -> None:
    """J8: `task.with_retry` is the config's policy: exponential, random factor 0 -> 1.0 s."""
    assert context.context8() == 1.0


def test_task_sees_its_timeout_from_config(context: ContextWorkflow) -> None:
    """J9: `task.with_timeout` is the config's 1000 s."""
    assert context.context9() == 1000.0
