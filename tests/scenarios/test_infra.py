"""Catalog §Q (JsonViewWorkflowTests) and §P (CacheTests, WorkflowMetricsIntegrationTests): the
scenarios that cannot exist in Python, skipped with the reason (catalog: "JVM-only scenarios").
P3 (ClientTests, the Java Pulsar client builder) is with the client scenarios."""

from __future__ import annotations

import pytest

JSON_VIEW = (
    "Jackson's @JsonView serialises a parameter or return value through a per-field view "
    "(Public/Internal); Python's payloads are the whole dataclass or pydantic model, and there "
    "is no per-parameter or per-return view to declare"
)


@pytest.mark.skip(reason=f"Q1: {JSON_VIEW}")
def test_json_view_none() -> None:
    """Q1: without JsonView."""


@pytest.mark.skip(reason=f"Q2: {JSON_VIEW}")
def test_json_view_on_service_parameter() -> None:
    """Q2: JsonView on a service parameter."""


@pytest.mark.skip(reason=f"Q3: {JSON_VIEW}")
def test_json_view_on_service_return() -> None:
    """Q3: JsonView on a service return value."""


@pytest.mark.skip(reason=f"Q4: {JSON_VIEW}")
def test_json_view_on_service_parameter_and_return() -> None:
    """Q4: JsonView on both the service parameter and return value."""


@pytest.mark.skip(reason=f"Q5: {JSON_VIEW}")
def test_json_view_on_workflow_parameter() -> None:
    """Q5: JsonView on a workflow parameter."""


@pytest.mark.skip(reason=f"Q6: {JSON_VIEW}")
def test_json_view_on_workflow_return() -> None:
    """Q6: JsonView on a workflow return value."""


@pytest.mark.skip(reason=f"Q7: {JSON_VIEW}")
def test_json_view_on_workflow_parameter_and_return() -> None:
    """Q7: JsonView on both the workflow parameter and return value."""


@pytest.mark.skip(
    reason="P1: it bounds the JVM reflection caches of Infinitic's workflow executor (method "
    "and class look-ups); Python has no such caches: interface specs are computed once per class"
)
def test_introspection_caches_stay_bounded() -> None:
    """P1: Cache utilities should not grow while running instances."""


@pytest.mark.skip(
    reason="P2: it reads Micrometer timers (infinitic.consumer.message.handling and the "
    "deserialization/processing timers, tagged by topic) of a private JVM worker's meter "
    "registry; this Python worker exports no consumer metrics"
)
def test_consumer_metrics() -> None:
    """P2: workflow resolution records consumer metrics with runtime topics."""
