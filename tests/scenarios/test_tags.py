"""Catalog §I (TagWorkflowTests): tags and custom ids."""

from __future__ import annotations

import uuid

from infinitic import InfiniticClient
from tests.scenarios.areas.syntax import TagWorkflow
from tests.scenarios.conftest import eventually


def _tag() -> str:
    return f"foo-{uuid.uuid4().hex[:8]}"


def test_tags_in_the_workflow_context(client: InfiniticClient) -> None:
    """I1: a workflow reads the tags it was started with."""
    assert client.new_workflow(TagWorkflow, tags={"foo", "bar"}).context() == {"foo", "bar"}


def test_target_and_cancel_by_tag(client: InfiniticClient) -> None:
    """I2: a new instance is listed by its tag as soon as its dispatch returns; canceling by
    tag removes it."""
    tag = _tag()
    client.dispatch(client.new_workflow(TagWorkflow, tags={tag, "bar"}).await_hour)
    assert len(client.get_ids_by_tag(TagWorkflow, tag)) == 1
    client.cancel(client.get_workflow_by_tag(TagWorkflow, tag))
    eventually(lambda: client.get_ids_by_tag(TagWorkflow, tag), lambda ids: ids == [])


def test_second_dispatch_with_the_same_custom_id_is_discarded(client: InfiniticClient) -> None:
    """I3: two dispatches with one customId tag start one instance."""
    tag = _tag()
    stub = client.new_workflow(TagWorkflow, tags={tag, f"customId:{uuid.uuid4().hex}"})
    first = client.dispatch(stub.await_hour)
    second = client.dispatch(stub.await_hour)
    assert first.id == second.id
    assert len(client.get_ids_by_tag(TagWorkflow, tag)) == 1
    client.cancel(client.get_workflow_by_tag(TagWorkflow, tag))
    eventually(lambda: client.get_ids_by_tag(TagWorkflow, tag), lambda ids: ids == [])
