"""The configuration, validated: what the loader builds and the worker reads."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..common.serialization import DEFAULT_MAX_PAYLOAD_BYTES
from .observability import DashboardConfig, EventListenerConfig, MetricsConfig
from .secrets import masked


@dataclass(frozen=True)
class RetryConfig:
    """`retry:` block: Infinitic's truncated randomized exponential backoff, in its keys (the
    parameters of `_core.backoff.ExponentialBackoff`, which the worker builds from them)."""

    minimum_seconds: float = 1.0
    maximum_seconds: float = 1000.0
    backoff_coefficient: float = 2.0
    random_factor: float = 0.5
    maximum_retries: int = 11
    ignored_exceptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchConfig:
    """`batch:` block: a batch holds up to `max_messages`, or what came within `max_seconds`."""

    max_messages: int
    max_seconds: float


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    class_path: str | None = None  # None: this worker only tags/routes, it does not execute
    concurrency: int = 1
    timeout_seconds: float | None = None
    retry: RetryConfig | None = None
    batch: BatchConfig | None = None  # tasks of methods with a @batch method run in batches


@dataclass(frozen=True)
class WorkflowConfig:
    name: str
    class_path: str | None = None
    concurrency: int = 1
    timeout_seconds: float | None = 60.0
    # `classes:` one implementation per version (the `_N` suffix of the class name, none = 0)
    class_paths: tuple[str, ...] = ()
    check_mode: str = "simple"
    retention_seconds: float = 86400.0  # how long an ended instance keeps its status and result
    state_cache_size: int = 10_000  # states the engine keeps decoded (checked by version on save)
    redrive_after_seconds: float = 60.0  # a pending state not moved this long is re-driven
    tombstone_seconds: float = 604800.0  # how long a late copy of an ended start is refused
    # messages are taken in batches: up to batch.max_messages are handled at once
    batch: BatchConfig | None = None

    @property
    def handled_at_once(self) -> int:
        """How many messages its executor and engine handle at once."""
        return max(self.concurrency, self.batch.max_messages if self.batch else 0)


@dataclass(frozen=True)
class WorkerConfig:
    name: str = "infinitic-worker"
    transport: str = "inMemory"
    transport_options: dict[str, Any] = field(default_factory=dict)
    storage: str = "inMemory"
    storage_options: dict[str, Any] = field(default_factory=dict)
    services: tuple[ServiceConfig, ...] = ()
    workflows: tuple[WorkflowConfig, ...] = ()
    shutdown_grace_period_seconds: float = 5.0
    # the largest payload this worker's client and executors encode or decode
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    # the process's garbage collector set for throughput when the worker starts (gc_tuning.py)
    tune_garbage_collector: bool = True
    event_listener: EventListenerConfig | None = None
    metrics: MetricsConfig | None = None
    dashboard: DashboardConfig | None = None
    source: str = "<dict>"  # the file it came from, for error messages

    def __repr__(self) -> str:  # the options hold credentials: masked (see config/secrets.py)
        shown = ", ".join(f"{f.name}={masked(getattr(self, f.name))!r}" for f in fields(self))
        return f"WorkerConfig({shown})"
