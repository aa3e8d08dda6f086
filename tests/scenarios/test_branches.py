"""Catalog §B (BranchesWorkflowTests): several methods running on one instance.

Infinitic deletes an instance's state once all its methods ended, and these tests check it
(`getWorkflowState == null`). Here an ended instance keeps its status and result for the
retention on purpose (DESIGN §3, "beyond Infinitic"), so the tests check instead that the
instance ENDED: `home.wait_ended`, true only once every method run is over.
"""

from __future__ import annotations

from infinitic import InfiniticClient
from tests.scenarios.areas.branches import BranchesWorkflow
from tests.scenarios.conftest import Home
from tests.scenarios.shared import UtilWorkflow


def test_simple_workflow_with_a_task(home: Home, client: InfiniticClient) -> None:
    """B1: one task; the instance ends with its method."""
    handle = client.dispatch(client.new_workflow(BranchesWorkflow).seq3bis)
    assert handle.result(timeout=30) == "ba"
    home.wait_ended(handle.id)


def test_sequential_with_an_async_branch(home: Home, client: InfiniticClient) -> None:
    """B2: a method dispatched on the instance itself runs next to the main one."""
    handle = client.dispatch(client.new_workflow(BranchesWorkflow).seq3)
    assert handle.result(timeout=30) == "23ba"
    home.wait_ended(handle.id)


def test_async_branch_with_two_tasks(home: Home, client: InfiniticClient) -> None:
    """B3: the branch runs two tasks."""
    handle = client.dispatch(client.new_workflow(BranchesWorkflow).seq4)
    assert handle.result(timeout=30) == "23bac"
    home.wait_ended(handle.id)


def test_deferred_methods_on_a_branch(home: Home, client: InfiniticClient) -> None:
    """B4: a branch's deferred is ongoing, not completed; then completed once awaited."""
    handle = client.dispatch(client.new_workflow(BranchesWorkflow).deferred_statuses)
    assert handle.result(timeout=30) == "truefalsefalsetrue"
    home.wait_ended(handle.id)


def test_run_branch_from_the_client(home: Home, client: InfiniticClient) -> None:
    """B5: a client's synchronous call of another method runs while the first one waits."""
    handle = client.dispatch(client.new_workflow(UtilWorkflow).receive, "a")
    home.wait_until(handle.id)
    instance = client.get_workflow_by_id(UtilWorkflow, handle.id)
    assert instance.concat("b") == "ab"
    instance.channel_a.send("c")
    assert handle.result(timeout=30) == "abc"
    home.wait_ended(handle.id)


def test_multiple_run_branches(home: Home, client: InfiniticClient) -> None:
    """B6: methods dispatched by a client run in the order they were dispatched."""
    handle = client.dispatch(client.new_workflow(UtilWorkflow).receive, "a")
    home.wait_until(handle.id)
    instance = client.get_workflow_by_id(UtilWorkflow, handle.id)
    adds = [client.dispatch(instance.add, x) for x in ("b", "c", "d")]
    for add in adds:
        add.result(timeout=30)
    instance.channel_a.send("e")
    assert handle.result(timeout=30) == "abcde"
    home.wait_ended(handle.id)


def test_numerous_run_branches(home: Home, client: InfiniticClient) -> None:
    """B7: 100 methods dispatched on a waiting instance."""
    handle = client.dispatch(client.new_workflow(UtilWorkflow).receive, "a")
    home.wait_until(handle.id)
    instance = client.get_workflow_by_id(UtilWorkflow, handle.id)
    adds = [client.dispatch(instance.add, "b") for _ in range(100)]
    for add in adds:
        add.result(timeout=30)
    instance.channel_a.send("c")
    assert handle.result(timeout=30) == "a" + "b" * 100 + "c"
    home.wait_ended(handle.id)


def test_instance_ends_only_after_its_async_branch(home: Home, client: InfiniticClient) -> None:
    """B8: the main method returns at once; the instance ends once the branch (a timer) did."""
    handle = client.dispatch(client.new_workflow(BranchesWorkflow).async1)
    assert handle.result(timeout=30) == "ok"
    home.wait_ended(handle.id)
