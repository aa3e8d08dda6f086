"""Catalog §F (ChildrenWorkflowTests): child workflows."""

from __future__ import annotations

import uuid

import pytest

from infinitic import InfiniticClient
from tests.scenarios.areas.children import ChildrenWorkflow
from tests.scenarios.conftest import eventually


@pytest.fixture
def children(client: InfiniticClient) -> ChildrenWorkflow:
    return client.new_workflow(ChildrenWorkflow)


def test_task_method_from_a_parent_interface(children: ChildrenWorkflow) -> None:
    """F1: a workflow method and a task declared on base classes of the interfaces."""
    assert children.parent() == "ok"


def test_child_method_from_a_parent_interface(children: ChildrenWorkflow) -> None:
    """F2: a child workflow's method declared on a base class of its interface."""
    assert children.wparent() == "ok"


def test_sequential_child(children: ChildrenWorkflow) -> None:
    """F3: a child's result feeds a task; the child's properties start fresh."""
    assert children.seq1() == "ab"


def test_asynchronous_child(children: ChildrenWorkflow) -> None:
    """F4: a dispatched child awaited later."""
    assert children.seq2() == "baba"


def test_nested_children(children: ChildrenWorkflow) -> None:
    """F5: 13 levels of synchronous children."""
    assert children.factorial(14) == 87178291200


def test_cancel_propagates_to_the_child(client: InfiniticClient) -> None:
    """F6: canceling a parent by tag cancels its child; both leave the tag index."""
    tag = f"foo-{uuid.uuid4().hex[:8]}"
    client.dispatch(client.new_workflow(ChildrenWorkflow, tags={tag, "bar"}).cancel)

    def ids() -> list[str]:
        return client.get_ids_by_tag(ChildrenWorkflow, tag)

    eventually(ids, lambda found: len(found) == 2)
    client.cancel(client.get_workflow_by_tag(ChildrenWorkflow, tag))
    eventually(ids, lambda found: found == [])
