"""Prometheus metrics of a worker, served on `/metrics` (`metrics: {prometheus: {host, port}}`).

Each worker has its own registry (two workers in one process do not mix their series). The hot
path only times handlers and storage calls and updates pre-bound label children; task and
workflow counts come from the event taps (infinitic/events), off the hot path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from ..config.observability import MetricsConfig
from ..storage.base import Storage, Write

log = logging.getLogger("infinitic.metrics")

T = TypeVar("T")

# handlers and storage calls take from tens of microseconds to seconds
_FAST = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    10,
)
_TASKS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800)


class Metrics:
    """The series (docs/operations.md lists them) and the hooks that feed them."""

    def __init__(self, config: MetricsConfig) -> None:
        self.config = config
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.handled = Counter(
            "infinitic_messages_handled", "Messages handled, by component, topic and outcome "
            "(ok, or error: the handler raised and the message is redelivered).",
            ["component", "topic", "outcome"], registry=r,
        )  # fmt: skip
        self.handling_seconds = Histogram(
            "infinitic_message_handling_seconds", "Time to handle one message, by component "
            "and topic (Infinitic's infinitic.consumer.message.handling).",
            ["component", "topic"], buckets=_FAST, registry=r,
        )  # fmt: skip
        self.tasks = Counter(
            "infinitic_tasks", "Task attempts by service, task and outcome "
            "(completed, failed, retried).", ["service", "task", "outcome"], registry=r,
        )  # fmt: skip
        self.task_seconds = Histogram(
            "infinitic_task_duration_seconds", "Duration of task attempts, from start to "
            "outcome, by service, task and outcome.",
            ["service", "task", "outcome"], buckets=_TASKS, registry=r,
        )  # fmt: skip
        self.workflows = Counter(
            "infinitic_workflows", "Workflow instances by name and transition (started, "
            "completed, failed, canceled, reopened: a failed one retried).",
            ["workflow", "transition"], registry=r,
        )  # fmt: skip
        self.running = Gauge(
            "infinitic_workflows_running", "Instances running, as counted by this worker's "
            "engines (sum over the workers that run a workflow's engine).",
            ["workflow"], registry=r,
        )  # fmt: skip
        self.storage = Histogram(
            "infinitic_storage_operation_seconds", "Latency of storage operations, by backend "
            "and operation.", ["backend", "operation"], buckets=_FAST, registry=r,
        )  # fmt: skip
        self.backlog = Gauge(
            "infinitic_backlog", "Work waiting, by kind (task-retry: retries scheduled and "
            "not started; outbox: messages saved and not yet sent; events: events not yet "
            "handed to the listener) and name.", ["kind", "name"], registry=r,
        )  # fmt: skip
        self._server: Any = None
        self.port: int | None = None

    # -- serving ---------------------------------------------------------------------------

    def serve(self) -> None:
        host, port = self.config.host, self.config.port
        try:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            from ..errors import ConfigError

            raise ConfigError(
                f"metrics.prometheus: cannot serve /metrics on {host}:{port}: {exc.strerror}"
            ) from None
        self.port = self._server.server_port
        log.info("metrics served on http://%s:%d/metrics", host, self.port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- hooks (events.tap.Observations, and gauges fed by others) --------------------------

    def handling(self, topic: str) -> Callable[[float, bool], None]:
        component = topic.split(":", 1)[0]
        observe = self.handling_child(component, topic)
        ok = self.handled.labels(component, topic, "ok").inc
        error = self.handled.labels(component, topic, "error").inc

        def handled(seconds: float, succeeded: bool) -> None:
            observe(seconds)
            (ok if succeeded else error)()

        return handled

    def handling_child(self, component: str, topic: str) -> Callable[[float], None]:
        return self.handling_seconds.labels(component, topic).observe

    def task_attempt(self, service: str, task: str, outcome: str, seconds: float) -> None:
        self.tasks.labels(service, task, outcome).inc()
        self.task_seconds.labels(service, task, outcome).observe(seconds)

    def retry_backlog(self, service: str, delta: int) -> None:
        self.backlog.labels("task-retry", service).inc(delta)

    def workflow(self, name: str, transition: str, running_delta: int) -> None:
        self.workflows.labels(name, transition).inc()
        if running_delta:
            self.running.labels(name).inc(running_delta)

    def set_backlog(self, kind: str, name: str, size: float) -> None:
        """Sets a backlog gauge, e.g. `set_backlog("outbox", "MyWorkflow", 3)`."""
        self.backlog.labels(kind, name).set(size)

    def track_backlog(self, kind: str, name: str, size: Callable[[], float]) -> None:
        """Reads a backlog gauge from `size()` at each scrape (it must be quick and thread-safe)."""
        self.backlog.labels(kind, name).set_function(size)


class TimedStorage(Storage):
    """Forwards to `inner`, timing each operation into `infinitic_storage_operation_seconds`."""

    def __init__(self, inner: Storage, metrics: Metrics) -> None:
        self.inner = inner
        self.backend = inner.backend
        label = inner.backend or type(inner).__name__
        self._observe = {
            op: metrics.storage.labels(label, op).observe
            for op in (
                "get",
                "get_many",
                "put",
                "put_many",
                "add_to_set",
                "remove_from_set",
                "get_set",
                "purge_expired",
            )  # fmt: skip
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # what a backend adds (listing, describing) untimed

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        begin = time.perf_counter()
        try:
            return await call
        finally:
            self._observe[operation](time.perf_counter() - begin)

    async def get(self, key: str) -> tuple[bytes, int] | None:
        return await self._timed("get", self.inner.get(key))

    async def get_many(self, keys: Sequence[str]) -> dict[str, tuple[bytes, int]]:
        return await self._timed("get_many", self.inner.get_many(keys))

    async def put(
        self, key: str, value: bytes | None, expected_version: int, *,
        ttl_seconds: float | None = None,
    ) -> int:  # fmt: skip
        call = self.inner.put(key, value, expected_version, ttl_seconds=ttl_seconds)
        return await self._timed("put", call)

    async def put_many(
        self, writes: Sequence[Write], *, ttl_seconds: float | None = None
    ) -> list[int]:
        return await self._timed("put_many", self.inner.put_many(writes, ttl_seconds=ttl_seconds))

    async def purge_expired(self) -> int:
        return await self._timed("purge_expired", self.inner.purge_expired())

    async def add_to_set(self, key: str, member: str) -> None:
        await self._timed("add_to_set", self.inner.add_to_set(key, member))

    async def remove_from_set(self, key: str, member: str) -> None:
        await self._timed("remove_from_set", self.inner.remove_from_set(key, member))

    async def get_set(self, key: str) -> frozenset[str]:
        return await self._timed("get_set", self.inner.get_set(key))
