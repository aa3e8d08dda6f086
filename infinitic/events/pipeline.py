"""From the taps to the listener: batches, CloudEvents, retries, all off the hot path.

The taps (tap.TaskTap in the task executors, workflow_tap.WorkflowTap in the engines) append
event records to `records` on the event loop. Every `FLUSH_SECONDS` the pipeline queues what
was noted, in order. Up to `concurrency` batches are handed at once to the listener's
`on_events`, each on a thread of its own pool (user code never runs on the loop); the CloudEvents are built there. A
batch whose `on_events` raises is retried, after 0.1 s doubling to 30 s, until it passes or the
worker closes: a failing listener delays its events, never a workflow. What waits is bounded by
`MAX_BACKLOG` events; past that the oldest are dropped, and logged.

On Pulsar (`broker` given), the batches are published to the events topic instead, and the
listener reads them back with its own subscription (stream.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Protocol

from cloudevents.core.v1.event import CloudEvent

from ..config.observability import EventListenerConfig
from . import data, stream
from .listener import CloudEventListener
from .record import Record
from .tap import Observations, TaskTap
from .workflow_tap import WorkflowTap

log = logging.getLogger("infinitic.events")

FLUSH_SECONDS = 0.05
BATCH = 1000
MAX_BACKLOG = 200_000
RETRY_FIRST, RETRY_MAX = 0.1, 30.0


@lru_cache(maxsize=4096)
def _source(prefix: str, path: str) -> str:
    return f"{prefix}/{path}"


class _Event(CloudEvent):
    """The SDK's CloudEvent, built for nearly nothing: it keeps the record it comes from and
    makes each attribute when it is read, `data` included, so a listener pays for what it reads
    (one that filters on `get_type()` builds no attribute dict and no data). The SDK's attribute
    checks are not run again: our attributes are valid by construction (tests/events runs the
    checks on them)."""

    def __init__(self, prefix: str, record: Record) -> None:  # no super(): nothing to check
        self._prefix = prefix
        self._record = record
        self._attrs: dict[str, Any] | None = None
        self._built: dict[str, Any] | None = None
        self._has_data = False

    @property
    def _attributes(self) -> dict[str, Any]:  # what the SDK's own methods read
        attrs = self._attrs
        if attrs is None:
            etype, path, subject, event_id, at = self._record[:5]
            attrs = self._attrs = {
                "specversion": "1.0",
                "id": event_id,
                "source": _source(self._prefix, path),
                "type": etype,
                "subject": subject,
                "time": datetime.fromtimestamp(at, timezone.utc),
                "datacontenttype": "application/json",
            }
        return attrs

    @_attributes.setter
    def _attributes(self, value: dict[str, Any]) -> None:
        self._attrs = value

    def get_id(self) -> str:
        return self._record[3]

    def get_type(self) -> str:
        return self._record[0]

    def get_subject(self) -> str | None:
        return self._record[2]

    def get_specversion(self) -> str:
        return "1.0"

    def get_data(self) -> dict[str, Any] | str | bytes | None:
        if not self._has_data:  # two threads may both build it: the same value either way
            record = self._record
            self._built = data.build(record[5], record[6])
            self._has_data = True
        return self._built


def to_cloud_event(prefix: str, record: Record) -> CloudEvent:
    return _Event(prefix, record)


class EventPipeline:
    """`broker` given (Pulsar): what the taps note is published to the events topic, and the
    listener reads that topic with its own subscription (stream.py); else it is handed to the
    listener directly."""

    def __init__(
        self,
        *,
        worker: str,
        prefix: str,
        config: EventListenerConfig | None = None,
        listener: CloudEventListener | None = None,
        observations: Observations | None = None,
        broker: Broker | None = None,
    ) -> None:
        self.prefix = prefix
        self.config = config
        self.listener = listener
        self.broker = broker
        self.records: list[Record] = []  # appended by the taps, on the event loop's thread
        emit = self.records.append if listener is not None else None
        # published, every event goes out: each listener applies its own filters when reading
        services = config.services.includes if config and not broker else _everything
        workflows = config.workflows.includes if config and not broker else _everything
        self.task_tap = TaskTap(worker, emit, services, observations)
        self.workflow_tap = WorkflowTap(worker, emit, workflows, observations)
        self._backlog: deque[Record] = deque()
        self._inflight = 0
        self._dropped = 0
        self._closed = threading.Event()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._encoder: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.listener is not None:
            workers = self.config.concurrency if self.config else 1
            self._pool = concurrent.futures.ThreadPoolExecutor(workers, "infinitic-events")
            if self.broker is not None:
                self._encoder = concurrent.futures.ThreadPoolExecutor(1, "infinitic-events-out")
                consumer = stream.Consumer(self._listen, self.config, self.broker.dead_letter)
                await self.broker.subscribe(stream.TOPIC, consumer.handle, workers)
        self._flusher = self._loop.create_task(self._run(), name="infinitic events")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a bug here must not stop the flushing
                log.exception("turning messages into events failed")

    def flush(self) -> None:
        """Hands what the taps noted to the listener (or to the broker)."""
        if self.records:
            self._backlog.extend(self.records)
            del self.records[:]
            excess = len(self._backlog) - MAX_BACKLOG
            if excess > 0:
                for _ in range(excess):
                    self._backlog.popleft()
                self._dropped += excess
                log.error(
                    "event listener is %d events behind: dropped the %d oldest (%d in all)",
                    MAX_BACKLOG, excess, self._dropped,
                )  # fmt: skip
        self._hand_over()

    def _hand_over(self) -> None:
        limit = self.config.concurrency if self.config else 1
        while self._backlog and self._inflight < limit and self._pool is not None:
            chunk = [self._backlog.popleft() for _ in range(min(BATCH, len(self._backlog)))]
            self._inflight += 1
            assert self._loop is not None
            if self.broker is not None:
                future: asyncio.Future[None] = asyncio.ensure_future(self._publish(chunk))
            else:
                future = self._loop.run_in_executor(self._pool, self._deliver, chunk)
            future.add_done_callback(self._delivered)

    def _delivered(self, future: asyncio.Future[None]) -> None:
        self._inflight -= 1
        if not future.cancelled() and future.exception() is not None:
            log.error("event delivery stopped: %s", future.exception())
        if not self._closed.is_set():
            self._hand_over()

    def _events(self, chunk: list[Record]) -> list[CloudEvent]:
        events = []
        for record in chunk:
            try:
                events.append(to_cloud_event(self.prefix, record))
            except Exception:  # noqa: BLE001 - one bad event must not hold the others back
                log.exception("could not build the %s event of %s", record[0], record[2])
        return events

    def _deliver(self, chunk: list[Record]) -> None:
        self._call_listener(self._events(chunk))

    def _call_listener(self, events: list[CloudEvent]) -> bool:
        """On a thread of the pool: `on_events` until it passes (True), or the worker closes."""
        delay = RETRY_FIRST
        assert self.listener is not None
        while events:
            try:
                self.listener.on_events(events)
                return True
            except Exception as exc:  # noqa: BLE001 - the listener's own failure: retried
                log.warning(
                    "event listener %s failed on %d events (%s: %s); retrying in %.1fs",
                    type(self.listener).__name__, len(events), type(exc).__name__, exc, delay,
                )  # fmt: skip
            if self._closed.wait(delay):
                log.error("worker closed: %d events not delivered to the listener", len(events))
                return False
            delay = min(RETRY_MAX, delay * 2)
        return True

    async def _listen(self, events: list[CloudEvent]) -> bool:
        """A batch read from the events topic, to the listener."""
        assert self._loop is not None
        return await self._loop.run_in_executor(self._pool, self._call_listener, events)

    def _encode(self, chunk: list[Record]) -> bytes:
        return stream.encode(self._events(chunk))

    async def _publish(self, chunk: list[Record]) -> None:
        """One batch to the events topic, sent again (after 0.1 s, doubling to 30 s) until the
        broker took it or the worker closed."""
        assert self._loop is not None and self.broker is not None
        payload = await self._loop.run_in_executor(self._encoder, self._encode, chunk)
        delay = RETRY_FIRST
        while True:
            try:
                await self.broker.publish(stream.TOPIC, payload)
                return
            except Exception as exc:  # noqa: BLE001 - the broker's failure: sent again
                if self._closed.is_set():
                    log.error("worker closed: %d events not published (%s)", len(chunk), exc)
                    return
                log.warning(
                    "publishing %d events failed (%s: %s); retrying in %.1fs",
                    len(chunk), type(exc).__name__, exc, delay,
                )  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)

    def pending(self) -> int:
        """Events noted and not yet handed to the listener (or the broker), or being handed."""
        return len(self.records) + len(self._backlog) + self._inflight

    async def close(self, deadline: float) -> None:
        """Hands over what is left until `deadline` (time.monotonic()): the worker's one
        shutdownGracePeriodSeconds, of which the running tasks may have taken some or all."""
        if self._flusher is not None:
            self._flusher.cancel()
        self.flush()
        if self._backlog or self._inflight:
            log.info(
                "closing: the event listener gets up to %.1fs (what is left of "
                "shutdownGracePeriodSeconds) for %d waiting event(s), %d batch(es) handed over",
                max(0.0, deadline - time.monotonic()), len(self._backlog), self._inflight,
            )  # fmt: skip
        while (self._backlog or self._inflight) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            self._hand_over()
        self._closed.set()
        for pool in (self._pool, self._encoder):
            if pool is not None:
                pool.shutdown(wait=False)


class Broker(Protocol):
    """What the pipeline needs of a broker's transport (Pulsar's, built by the worker)."""

    async def publish(self, topic: str, payload: bytes) -> None: ...
    async def subscribe(
        self, topic: str, handler: Callable[[bytes], Awaitable[None]], concurrency: int
    ) -> None: ...
    async def dead_letter(self, topic: str, payload: bytes, reason: str) -> None: ...


def _everything(name: str) -> bool:
    return True
