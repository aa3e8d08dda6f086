"""Catalog §K (InlineWorkflowTests): inline steps."""

from __future__ import annotations

import pytest

from infinitic import InfiniticClient, WorkflowFailedError
from tests.scenarios.areas.syntax import InlineWorkflow


@pytest.fixture
def inline(client: InfiniticClient) -> InlineWorkflow:
    return client.new_workflow(InlineWorkflow)


def test_inline_value(inline: InlineWorkflow) -> None:
    """K1: an inline step's value is recorded and used."""
    assert inline.inline1(7) == "2 * 7 = 14"


@pytest.mark.parametrize("method", ["inline2", "inline3"], ids=["dispatch", "sync-call"])
def test_stub_inside_inline_is_refused(inline: InlineWorkflow, method: str) -> None:
    """K2 (a task dispatched inside an inline step), K3 (a task called inside one): the
    workflow fails with InvalidInlineError."""
    with pytest.raises(WorkflowFailedError) as failure:
        getattr(inline, method)(7)
    error = failure.value.last_error
    assert error is not None
    assert error.name == "infinitic.errors.InvalidInlineError"
    assert "inline step" in error.message
