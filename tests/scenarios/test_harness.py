"""The harness itself: each home runs the shared fixtures, and `later` acts on a suspended
instance."""

from __future__ import annotations

import inspect

from infinitic import InfiniticClient
from tests.scenarios import async_impls
from tests.scenarios.conftest import Home, Later
from tests.scenarios.shared import UtilService, UtilServiceImpl, UtilWorkflow, UtilWorkflowImpl


def test_shared_service_and_workflow_run_on_the_home(client: InfiniticClient) -> None:
    assert client.new_service(UtilService).concat("a", "b") == "ab"
    assert client.new_workflow(UtilWorkflow).concat("a") == "a"


def test_later_acts_once_the_instance_waits(client: InfiniticClient, later: Later) -> None:
    handle = client.dispatch(client.new_workflow(UtilWorkflow).receive, "a")
    stub = client.get_workflow_by_id(UtilWorkflow, handle.id)
    later.when_waiting(handle.id, lambda: stub.channel_a.send("b"))
    assert handle.result(timeout=30) == "ab"


def test_the_home_runs_its_flavor_of_implementations(home: Home) -> None:
    """The sync homes run the implementations as written; the async homes run their twins, whose
    task methods and workflow methods are all `async def` and await what the sync ones wait
    for with `.result()`."""
    config = home.worker.config
    paths = [s.class_path for s in config.services] + [
        path for w in config.workflows for path in (w.class_path, *w.class_paths) if path
    ]
    assert paths
    for path in paths:
        assert path and path.startswith("tests.scenarios.async_impls.Async") == (
            home.flavor == "async"
        )
    twins = async_impls.sources()
    if home.flavor == "async":
        assert all(".result()" not in source for source in twins.values())
        assert "await self.channel_a.receive()" in twins["AsyncUtilWorkflowImpl"]
        service = async_impls.load(home.implementation(UtilServiceImpl))
        workflow = async_impls.load(home.implementation(UtilWorkflowImpl))
        assert inspect.iscoroutinefunction(service.await_ms)
        assert inspect.iscoroutinefunction(workflow.receive)
