"""Catalog §Q (JsonViewWorkflowTests) and §P (CacheTests, WorkflowMetricsIntegrationTests).

Q1-Q7 and P1 cannot exist in Python: skipped with the reason (catalog: "JVM-only scenarios").
P2 is adapted to the worker's Prometheus metrics. P3 (ClientTests, the Java Pulsar client
builder) is with the client scenarios."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from infinitic import InfiniticWorker
from tests.scenarios import shared
from tests.scenarios.areas import syntax
from tests.scenarios.conftest import HOMES, storage_and_transport

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


@pytest.mark.parametrize("home", HOMES)
def test_consumer_metrics(request: pytest.FixtureRequest, tmp_path: Path, home: str) -> None:
    """P2: a private worker with metrics runs InlineWorkflow.inline1(7); the time to handle
    messages (Infinitic's `infinitic.consumer.message.handling`, here
    `infinitic_message_handling_seconds`) is recorded for the workflow engine, the workflow-task
    executor and the task executor. (Infinitic's separate deserialization and processing
    timers have no counterpart: a handler's time includes both.)"""
    storage, transport = storage_and_transport(request, home, tmp_path, bus="metrics-p2")
    config = {
        "name": f"metrics-{home}",
        "transport": transport,
        "storage": storage,
        "services": [s for s in shared.SERVICES if s["name"].endswith(".UtilService")],
        "workflows": [w for w in syntax.WORKFLOWS if w["name"].endswith(".InlineWorkflow")],
        "metrics": {"prometheus": {"host": "127.0.0.1", "port": 0}},
    }
    with InfiniticWorker.from_config(config) as worker:
        assert worker.client.new_workflow(syntax.InlineWorkflow).inline1(7) == "2 * 7 = 14"
        metrics = worker.observability.metrics
        assert metrics is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics.port}/metrics") as page:
            text = page.read().decode()
    handled = {
        line.split('component="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("infinitic_message_handling_seconds_count{")
        and float(line.rsplit(" ", 1)[1]) > 0
    }
    assert {"workflow-engine", "workflow-task-executor", "task-executor"} <= handled
