"""Test helpers: a worker on the in-memory transport built from the sample services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from infinitic import InfiniticWorker


def service(name: str, cls: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "class": f"tests.sample_services.{cls}", **extra}


@contextmanager
def running_worker(
    *services: dict[str, Any], channel: str | None = None
) -> Iterator[InfiniticWorker]:
    transport: Any = {"inMemory": {"channel": channel}} if channel else "inMemory"
    worker = InfiniticWorker.from_config(
        {"name": "test-worker", "transport": transport, "services": list(services)}
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.close()
