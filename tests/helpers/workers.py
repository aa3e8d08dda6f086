"""The one way the tests start a worker: `started(config)`, closed when the block ends.

`running_worker` (services of tests/sample_services.py) and `workflow_worker` (the sample
services and workflows, on a chosen storage and transport) are configs handed to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from infinitic import InfiniticWorker


@contextmanager
def started(
    config: dict[str, Any], clock: Callable[[], float] | None = None
) -> Iterator[InfiniticWorker]:
    """A worker built from `config`, started, and closed however the block ends."""
    worker = InfiniticWorker.from_config(config, clock=clock)
    try:
        worker.start()
        yield worker
    finally:
        worker.close()


def service(name: str, cls: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "class": f"tests.sample_services.{cls}", **extra}


@contextmanager
def running_worker(
    *services: dict[str, Any], channel: str | None = None
) -> Iterator[InfiniticWorker]:
    """A worker on the in-memory transport running `services` (see `service`)."""
    transport: Any = {"inMemory": {"channel": channel}} if channel else "inMemory"
    with started(
        {"name": "test-worker", "transport": transport, "services": list(services)}
    ) as worker:
        yield worker


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
    """The sample services and workflows; `workflow_extra` goes into every workflow's entry."""
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
    """A worker running the sample services and workflows (see `config`)."""
    with started(config(storage, transport, **workflow_extra), clock=clock) as worker:
        yield worker
