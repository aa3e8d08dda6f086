"""Catalog §P3: Infinitic's `ClientTests` (one scenario, JVM-only); and, beyond the catalog, the
client's methods on tag stubs that the errors scenarios (E24, E25) only touch."""

from __future__ import annotations

import uuid

import pytest

from infinitic import DeferredStatus, InfiniticClient
from tests.scenarios.areas.client import TaggedWorkflow
from tests.scenarios.conftest import Home

RESULT_TIMEOUT = 30


@pytest.mark.skip(
    reason="JVM-only: P3 builds Infinitic's Java Pulsar client through its Kotlin builder and "
    "asserts nothing; Python clients are built from the worker config (InfiniticClient."
    "from_config), which every scenario of the Pulsar home exercises"
)
def test_initialization() -> None:
    """P3 `initialization` (ClientTests.kt)."""


def test_dispatch_by_tag_reaches_every_instance(home: Home) -> None:
    """`client.dispatch(tag_stub.method, ...)` runs the method on every instance with the tag
    (each one's main method ends with what it got); a direct call on the tag stub raises
    NotImplementedError, and so does the result of the handle the dispatch returns."""
    client = home.client
    tag = f"poke-{uuid.uuid4().hex[:8]}"
    handles = [client.dispatch(client.new_workflow(TaggedWorkflow, tags={tag}).wait) for _ in "ab"]
    for handle in handles:
        home.wait_until(handle.id)
    by_tag = client.get_workflow_by_tag(TaggedWorkflow, tag)
    with pytest.raises(NotImplementedError):
        by_tag.poke("direct")
    dispatched = client.dispatch(by_tag.poke, "by tag")
    with pytest.raises(NotImplementedError):
        dispatched.result(timeout=1)
    assert [h.result(timeout=RESULT_TIMEOUT) for h in handles] == ["by tag", "by tag"]


def test_retry_tasks_refuses_other_statuses(client: InfiniticClient) -> None:
    """Only failed and timed-out tasks can be retried: another status is a clear error."""
    stub = client.get_workflow_by_id(TaggedWorkflow, "some-id")
    with pytest.raises(ValueError, match="FAILED or DeferredStatus.TIMED_OUT"):
        client.retry_tasks(stub, task_status=DeferredStatus.COMPLETED)
