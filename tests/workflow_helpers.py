"""A worker running the sample services and workflows, on a chosen storage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from infinitic import InfiniticWorker

SERVICES = [
    {
        "name": "Math",
        "class": "tests.sample_workflows.MathServiceImpl",
        "concurrency": 4,
        "retry": {"maximumRetries": 0},
    },
    {"name": "Echo", "class": "tests.sample_services.EchoServiceImpl", "concurrency": 2},
]
WORKFLOWS = [
    {"name": "Basic", "class": "tests.sample_workflows.BasicWorkflowImpl", "concurrency": 2},
    {"name": "Loyalty", "class": "tests.sample_workflows.LoyaltyWorkflowImpl"},
    {
        "name": "AsyncBasic",
        "class": "tests.sample_workflows.AsyncBasicWorkflowImpl",
        "concurrency": 2,
    },
    {"name": "AsyncLoyalty", "class": "tests.sample_workflows.AsyncLoyaltyWorkflowImpl"},
    {"name": "Sleepy", "class": "tests.sample_workflows.SleepyWorkflowImpl"},
    {"name": "Durable", "class": "tests.sample_workflows.DurableWorkflowImpl", "concurrency": 2},
    {"name": "AsyncDurable", "class": "tests.sample_workflows.AsyncDurableWorkflowImpl"},
    {"name": "Simple", "class": "tests.sample_workflows.SimpleCheckImpl", "checkMode": "simple"},
    {"name": "Strict", "class": "tests.sample_workflows.StrictCheckImpl", "checkMode": "strict"},
]


def config(
    storage: Any = "inMemory", transport: Any = "inMemory", **workflow_extra: Any
) -> dict[str, Any]:
    return {
        "name": "wf-worker",
        "transport": transport,
        "storage": storage,
        "services": SERVICES,
        "workflows": [{**w, **workflow_extra} for w in WORKFLOWS],
    }


@contextmanager
def workflow_worker(
    storage: Any = "inMemory",
    clock: Callable[[], float] | None = None,
    transport: Any = "inMemory",
    **workflow_extra: Any,
) -> Iterator[InfiniticWorker]:
    worker = InfiniticWorker.from_config(config(storage, transport, **workflow_extra), clock=clock)
    worker.start()
    try:
        yield worker
    finally:
        worker.close()
