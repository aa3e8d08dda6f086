"""The harness itself: each home runs the shared fixtures, and `later` acts on a suspended
instance."""

from __future__ import annotations

from infinitic import InfiniticClient
from tests.scenarios.conftest import Later
from tests.scenarios.shared import UtilService, UtilWorkflow


def test_shared_service_and_workflow_run_on_the_home(client: InfiniticClient) -> None:
    assert client.new_service(UtilService).concat("a", "b") == "ab"
    assert client.new_workflow(UtilWorkflow).concat("a") == "a"


def test_later_acts_once_the_instance_waits(client: InfiniticClient, later: Later) -> None:
    handle = client.dispatch(client.new_workflow(UtilWorkflow).receive, "a")
    stub = client.get_workflow_by_id(UtilWorkflow, handle.id)
    later.when_waiting(handle.id, lambda: stub.channel_a.send("b"))
    assert handle.result(timeout=30) == "ab"
