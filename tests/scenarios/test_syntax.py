"""Catalog §M (SyntaxWorkflowTests): naming, inherited methods, polymorphic values."""

from __future__ import annotations

from infinitic import InfiniticClient
from tests.scenarios.areas.syntax import AnnotatedWorkflow, SyntaxWorkflow
from tests.scenarios.shared import Child1


def test_workflow_with_no_task(client: InfiniticClient) -> None:
    """M1: a method that runs nothing."""
    assert client.new_workflow(SyntaxWorkflow).empty() == "void"


def test_task_from_a_parent_interface(client: InfiniticClient) -> None:
    """M2: a workflow method and a task both declared on base classes of the interfaces."""
    assert client.new_workflow(SyntaxWorkflow).parent() == "ok"


def test_child_workflow_from_a_parent_interface(client: InfiniticClient) -> None:
    """M3: a child's method declared on a base class of its interface."""
    assert client.new_workflow(SyntaxWorkflow).cparent() == "ok"


def test_annotated_names(client: InfiniticClient) -> None:
    """M4: @name on the workflow, the service and their methods."""
    assert client.new_workflow(AnnotatedWorkflow).foo("") == "abc"


def test_polymorphism_in_return_value(client: InfiniticClient) -> None:
    """M5: a task declared to return Parent returns a Child1: it comes back as a Child1,
    through the workflow to the client."""
    result = client.new_workflow(SyntaxWorkflow).polymorphism()
    assert type(result) is Child1
    assert result == Child1("child1")
