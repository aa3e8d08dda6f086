"""Catalog §C (PropertiesWorkflowTests): properties shared across the methods of an instance."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infinitic import InfiniticClient, WorkflowFailedError
from tests.scenarios.areas.properties import PropertiesWorkflow


@pytest.fixture
def properties(client: InfiniticClient) -> PropertiesWorkflow:
    return client.new_workflow(PropertiesWorkflow)


def test_share_data_between_branches(properties: PropertiesWorkflow) -> None:
    """C1: a synchronous call of a method of the instance itself writes the shared property."""
    assert properties.prop1() == "abc"


def test_branch_runs_in_parallel(properties: PropertiesWorkflow) -> None:
    """C2: a dispatched branch runs only once the main method waits."""
    assert properties.prop2() == "acbd"


def test_branch_runs_in_parallel_with_a_task(properties: PropertiesWorkflow) -> None:
    """C3: as C2, the branch running a task first."""
    assert properties.prop3() == "acbd"


def test_branch_not_awaited(properties: PropertiesWorkflow) -> None:
    """C4: a branch that writes late is not seen by the returned value."""
    assert properties.prop4() == "acd"


def test_two_branches(properties: PropertiesWorkflow) -> None:
    """C5: two branches write in the order they finish."""
    assert properties.prop5() == "adcb"


def _fails_naming_deferred(call: Callable[[], str]) -> None:
    with pytest.raises(WorkflowFailedError) as failure:
        call()
    error = failure.value.last_error
    assert error is not None
    assert "Deferred" in error.message


def test_ongoing_deferred_as_branch_argument(properties: PropertiesWorkflow) -> None:
    """C6: a Deferred (not completed) passed as an argument fails the workflow, naming it."""
    _fails_naming_deferred(properties.prop6)


def test_completed_deferred_as_branch_argument(properties: PropertiesWorkflow) -> None:
    """C7: the same with a completed Deferred."""
    _fails_naming_deferred(properties.prop7)


def test_ongoing_deferred_as_property(properties: PropertiesWorkflow) -> None:
    """C8: a Deferred kept as a property is refused, with an error naming Deferred."""
    _fails_naming_deferred(properties.prop8)


def test_completed_deferred_as_property(properties: PropertiesWorkflow) -> None:
    """C9: the same with a completed Deferred."""
    _fails_naming_deferred(properties.prop9)


def test_branch_writes_after_its_own_task(properties: PropertiesWorkflow) -> None:
    """C10: a branch's write after its task is seen once it is awaited."""
    assert properties.prop10() == "acbd"
