"""Catalog §A (DeferredWorkflowTests): sync, async and combined deferreds."""

from __future__ import annotations

import pytest

from infinitic import InfiniticClient
from tests.scenarios.areas.deferred import DeferredWorkflow
from tests.scenarios.shared import UtilWorkflow


@pytest.fixture
def deferred(client: InfiniticClient) -> DeferredWorkflow:
    return client.new_workflow(DeferredWorkflow, tags={"foo", "bar"})


def test_simple_sequential(deferred: DeferredWorkflow) -> None:
    """A1: three sequential tasks."""
    assert deferred.seq1() == "123"


def test_wait_for_a_dispatched_workflow(
    client: InfiniticClient, deferred: DeferredWorkflow
) -> None:
    """A2: a dispatched workflow's handle gives its result."""
    handle = client.dispatch(deferred.await_ms, 200)
    assert handle.result(timeout=30) == 200


def test_simple_sequential_repeat(deferred: DeferredWorkflow) -> None:
    """A3: the same as A1, on a second instance."""
    assert deferred.seq1() == "123"


def test_sequential_with_an_async_task(deferred: DeferredWorkflow) -> None:
    """A4: a task dispatched first and awaited last."""
    assert deferred.seq2() == "23ba"


def test_await_two_deferred_in_wrong_order(deferred: DeferredWorkflow) -> None:
    """A5: the slow deferred awaited before the fast one."""
    assert deferred.seq3() == 600


def test_await_two_deferred_in_wrong_order_then_a_step(deferred: DeferredWorkflow) -> None:
    """A6: as A5, followed by one more task (another workflow task and replay)."""
    assert deferred.seq4() == 600


def test_or_of_three_tasks(deferred: DeferredWorkflow) -> None:
    """A7: any_of over three tasks gives one of their results."""
    assert deferred.or1() in {"ba", "dc", "fe"}


def test_and_or_of_three_tasks(deferred: DeferredWorkflow) -> None:
    """A8: any_of(all_of(d1, d2), d3) gives the pair or the third."""
    assert deferred.or2() in (["ba", "dc"], "fe")


def test_or_over_a_list(deferred: DeferredWorkflow) -> None:
    """A9: any_of over a list."""
    assert deferred.or3() in {"ba", "dc", "fe"}


def test_or_with_status_checking(deferred: DeferredWorkflow) -> None:
    """A10: a deferred's status, read before any await, is not completed (deterministic)."""
    assert deferred.or4() == "baba"


def test_and_of_three_tasks(deferred: DeferredWorkflow) -> None:
    """A11: all_of keeps the declaration order."""
    assert deferred.and1() == ["ba", "dc", "fe"]


def test_and_over_a_list(deferred: DeferredWorkflow) -> None:
    """A12: all_of over a list."""
    assert deferred.and2() == ["ba", "dc", "fe"]


def test_and_over_a_large_list(deferred: DeferredWorkflow) -> None:
    """A13: all_of over 20 tasks."""
    assert deferred.and3() == ["ba"] * 20


def test_multiple_sync_client_calls(client: InfiniticClient, deferred: DeferredWorkflow) -> None:
    """A14: two synchronous calls of two workflows, one after the other."""
    assert deferred.seq1() == "123"
    assert client.new_workflow(UtilWorkflow).concat("ok") == "ok"
