"""Prometheus metrics of a worker, served on `/metrics` (`metrics: {prometheus: {host, port}}`).

prometheus-client serves them (its registry, exposition and HTTP server); the values are kept
here, in plain counters and bucket lists that the event loop's thread alone updates, and read by
a collector at each scrape: prometheus-client's own metric objects take a lock per update, which
on a handler that runs in tens of microseconds was a measurable share of it. Each worker has its
own registry, so two workers in one process do not mix their series.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ..config.observability import MetricsConfig
from ..errors import ConfigError
from ..storage.base import IndexEntry, IndexPage, IndexQuery, Storage, Write

log = logging.getLogger("infinitic.metrics")

clock = time.perf_counter
Labels = tuple[str, ...]

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


class _Histogram:
    """One labelled histogram: a count per bucket (the last is +Inf) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class _Family:
    """A metric's series by label values, exported at scrape time."""

    def __init__(self, kind: str, name: str, doc: str, labels: Labels,
                 bounds: tuple[float, ...] = ()) -> None:  # fmt: skip
        self.kind, self.name, self.doc, self.labels, self.bounds = kind, name, doc, labels, bounds
        self.values: dict[Labels, Any] = {}
        self.functions: dict[Labels, Callable[[], float]] = {}

    def histogram(self, *labels: str) -> _Histogram:
        found = self.values.get(labels)
        if found is None:
            found = self.values[labels] = _Histogram(self.bounds)
        return found

    def add(self, labels: Labels, amount: float) -> None:
        self.values[labels] = self.values.get(labels, 0) + amount

    def export(self) -> Metric:
        labels = list(self.labels)
        if self.kind == "histogram":
            family: Any = HistogramMetricFamily(self.name, self.doc, labels=labels)
            for values, h in list(self.values.items()):
                counts, running, buckets = list(h.counts), 0, []
                for bound, count in zip((*map(str, h.bounds), "+Inf"), counts, strict=True):
                    running += count
                    buckets.append((bound, running))
                family.add_metric(list(values), buckets, h.sum)
            return family  # type: ignore[no-any-return]
        cls = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        family = cls(self.name, self.doc, labels=labels)
        for values, value in list(self.values.items()):
            family.add_metric(list(values), value)
        for values, read in list(self.functions.items()):
            try:
                family.add_metric(list(values), float(read()))
            except Exception:  # noqa: BLE001 - a scrape must not fail on one gauge
                log.exception("reading gauge %s%s failed", self.name, values)
        return family  # type: ignore[no-any-return]


class Metrics:
    """The series (docs/operations.md lists them) and the hooks that feed them."""

    def __init__(self, config: MetricsConfig) -> None:
        self.config = config
        self.handled = _Family(
            "counter", "infinitic_messages_handled", "Messages handled, by component, topic "
            "and outcome (ok, or error: the handler raised and the message is redelivered).",
            ("component", "topic", "outcome"),
        )  # fmt: skip
        self.handling_seconds = _Family(
            "histogram", "infinitic_message_handling_seconds", "Time to handle one message, by "
            "component and topic (Infinitic's infinitic.consumer.message.handling).",
            ("component", "topic"), _FAST,
        )  # fmt: skip
        self.tasks = _Family(
            "counter", "infinitic_tasks", "Task attempts by service, task and outcome "
            "(completed, failed, retried, delegated).", ("service", "task", "outcome"),
        )  # fmt: skip
        self.task_seconds = _Family(
            "histogram", "infinitic_task_duration_seconds", "Duration of task attempts, from "
            "start to outcome, by service, task and outcome.", ("service", "task", "outcome"),
            _TASKS,
        )  # fmt: skip
        self.workflows = _Family(
            "counter", "infinitic_workflows", "Workflow instances by name and transition "
            "(started, completed, failed, canceled, reopened: a failed one retried).",
            ("workflow", "transition"),
        )  # fmt: skip
        self.running = _Family(
            "gauge", "infinitic_workflows_running", "Instances running, as counted by this "
            "worker's engines (sum over the workers that run a workflow's engine).",
            ("workflow",),
        )  # fmt: skip
        self.storage = _Family(
            "histogram", "infinitic_storage_operation_seconds", "Latency of storage "
            "operations, by backend and operation.", ("backend", "operation"), _FAST,
        )  # fmt: skip
        self.backlog = _Family(
            "gauge", "infinitic_backlog", "Work waiting, by kind (task-retry: retries "
            "scheduled and not started; outbox: messages saved and not yet sent; events: "
            "events not yet handed to the listener) and name.", ("kind", "name"),
        )  # fmt: skip
        self._task_histograms: dict[Labels, _Histogram] = {}
        self.errors: dict[tuple[str, str], int] = {}  # handlers that raised, by (component, topic)
        self.families = (
            self.handled, self.handling_seconds, self.tasks, self.task_seconds,
            self.workflows, self.running, self.storage, self.backlog,
        )  # fmt: skip
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._server: Any = None
        self.port: int | None = None

    def collect(self) -> Iterator[Metric]:
        """prometheus-client's collector protocol: the families, read now."""
        tasks = self.tasks.values
        for key, h in list(self.task_seconds.values.items()):
            tasks[key] = sum(h.counts)
        # messages handled: the handling histogram counts them all; the errors are kept apart
        handled = self.handled.values
        for (component, topic), h in list(self.handling_seconds.values.items()):
            errors = self.errors.get((component, topic), 0)
            handled[(component, topic, "ok")] = sum(h.counts) - errors
            handled[(component, topic, "error")] = errors
        for family in self.families:
            yield family.export()

    # -- serving ---------------------------------------------------------------------------

    def serve(self) -> None:
        host, port = self.config.host, self.config.port
        try:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
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
    # all called on the event loop's thread

    def handling(self, topic: str) -> tuple[Callable[[float], None], Callable[[], None]]:
        component = topic.split(":", 1)[0]
        histogram = self.handling_seconds.histogram(component, topic)
        errors = self.errors
        key = (component, topic)
        errors[key] = 0

        def failed() -> None:
            errors[key] += 1

        return histogram.observe, failed

    def task_attempt(self, service: str, task: str, outcome: str, seconds: float) -> None:
        key = (service, task, outcome)
        histogram = self._task_histograms.get(key)
        if histogram is None:
            histogram = self._task_histograms[key] = self.task_seconds.histogram(*key)
        histogram.observe(seconds)  # the attempts counter is read from it at scrape time

    def retry_backlog(self, service: str, delta: int) -> None:
        self.backlog.add(("task-retry", service), delta)

    def workflow(self, name: str, transition: str, running_delta: int) -> None:
        self.workflows.add((name, transition), 1)
        if running_delta:
            self.running.add((name,), running_delta)

    def set_backlog(self, kind: str, name: str, size: float) -> None:
        """Sets a backlog gauge, e.g. `set_backlog("outbox", "MyWorkflow", 3)`."""
        self.backlog.values[(kind, name)] = size

    def track_backlog(self, kind: str, name: str, size: Callable[[], float]) -> None:
        """Reads a backlog gauge from `size()` at each scrape (quick and thread-safe)."""
        self.backlog.functions[(kind, name)] = size


class TimedStorage(Storage):
    """Forwards to `inner`, timing each operation into `infinitic_storage_operation_seconds`."""

    def __init__(self, inner: Storage, metrics: Metrics) -> None:
        self.inner = inner
        self.backend = inner.backend
        label = inner.backend or type(inner).__name__
        timer = metrics.storage.histogram
        self._get = timer(label, "get").observe
        self._get_many = timer(label, "get_many").observe
        self._put = timer(label, "put").observe
        self._put_many = timer(label, "put_many").observe
        self._purge_expired = timer(label, "purge_expired").observe
        self._add_to_set = timer(label, "add_to_set").observe
        self._remove_from_set = timer(label, "remove_from_set").observe
        self._get_set = timer(label, "get_set").observe
        self._list_index = timer(label, "list_index").observe

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # what a backend adds (listing, describing) untimed

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    # each operation timed inline: an extra coroutine per call cost more than the timing
    async def get(self, key: str) -> tuple[bytes, int] | None:
        begin = clock()
        try:
            return await self.inner.get(key)
        finally:
            self._get(clock() - begin)

    async def get_many(self, keys: Sequence[str]) -> dict[str, tuple[bytes, int]]:
        begin = clock()
        try:
            return await self.inner.get_many(keys)
        finally:
            self._get_many(clock() - begin)

    async def put(
        self, key: str, value: bytes | None, expected_version: int, *,
        ttl_seconds: float | None = None, index: IndexEntry | None = None,
    ) -> int:  # fmt: skip
        begin = clock()
        try:
            return await self.inner.put(
                key, value, expected_version, ttl_seconds=ttl_seconds, index=index
            )
        finally:
            self._put(clock() - begin)

    async def put_many(
        self, writes: Sequence[Write], *, ttl_seconds: float | None = None,
        index: IndexEntry | None = None,
    ) -> list[int]:  # fmt: skip
        begin = clock()
        try:
            return await self.inner.put_many(writes, ttl_seconds=ttl_seconds, index=index)
        finally:
            self._put_many(clock() - begin)

    async def list_index(self, query: IndexQuery) -> IndexPage:
        begin = clock()
        try:
            return await self.inner.list_index(query)
        finally:
            self._list_index(clock() - begin)

    async def purge_expired(self) -> int:
        begin = clock()
        try:
            return await self.inner.purge_expired()
        finally:
            self._purge_expired(clock() - begin)

    async def add_to_set(self, key: str, member: str) -> None:
        begin = clock()
        try:
            await self.inner.add_to_set(key, member)
        finally:
            self._add_to_set(clock() - begin)

    async def remove_from_set(self, key: str, member: str) -> None:
        begin = clock()
        try:
            await self.inner.remove_from_set(key, member)
        finally:
            self._remove_from_set(clock() - begin)

    async def get_set(self, key: str) -> frozenset[str]:
        begin = clock()
        try:
            return await self.inner.get_set(key)
        finally:
            self._get_set(clock() - begin)
