"""The transport tap: what this worker sends and consumes, seen without touching the transport.

`TappedTransport` wraps the worker's transport for its engines, executors and client. On the hot
path it only times handlers and appends `(kind, topic, payload, delay, time)` to a list for the
messages that make task events (the envelope's type id is read from its header byte: nothing is
decoded there); `TaskRecords.process` decodes them later, in batches (pipeline.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from .._core.envelope import EnvelopeError
from ..common import messages as m
from ..transport.base import Handler, Transport
from . import data
from . import types as t
from .record import Record, source

log = logging.getLogger("infinitic.events")

SENT, STARTED = 0, 1
_TASK_EXECUTOR = "task-executor:"
# envelope header: b"IN", format version, then the type id (one byte below 128)
_TYPE_BYTE = 3
_RESULT_TYPES = (3, 4)  # TaskCompleted, TaskFailed


class Observations(Protocol):
    """What the metrics module is told (worker/metrics.py implements it)."""

    def handling(self, topic: str) -> tuple[Callable[[float], None], Callable[[], None]]:
        """(observe(seconds) of each message handled, failed() when a handler raised)."""
        ...

    def task_attempt(self, service: str, task: str, outcome: str, seconds: float) -> None: ...
    def retry_backlog(self, service: str, delta: int) -> None: ...
    def workflow(self, name: str, transition: str, running_delta: int) -> None: ...


class TappedTransport(Transport):
    """Forwards everything to `inner`; notes task messages in `records` and times handlers."""

    def __init__(
        self,
        inner: Transport,
        records: list[Any],
        observations: Observations | None = None,
    ) -> None:
        self.inner = inner
        self.records = records
        self.observations = observations

    def __getattr__(self, name: str) -> Any:
        if name == "send_nowait":
            inner: Any = self.inner
            send_nowait = inner.send_nowait  # AttributeError if it has none

            def tapped(
                topic: str, payload: bytes, *, key: str | None = None, delay: float = 0.0
            ) -> None:
                self._note(topic, payload, delay)
                send_nowait(topic, payload, key=key, delay=delay)

            return tapped
        return getattr(self.inner, name)

    def _note(self, topic: str, payload: bytes, delay: float) -> None:
        if topic.startswith(_TASK_EXECUTOR) or (
            len(payload) > _TYPE_BYTE and payload[_TYPE_BYTE] in _RESULT_TYPES
        ):
            self.records.append((SENT, topic, payload, delay, time.time()))

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def send(
        self, topic: str, payload: bytes, *, key: str | None = None, delay: float = 0.0
    ) -> None:
        self._note(topic, payload, delay)
        await self.inner.send(topic, payload, key=key, delay=delay)

    async def subscribe(
        self, topic: str, handler: Handler, *, keyed: bool = False, concurrency: int = 1
    ) -> None:
        await self.inner.subscribe(
            topic, self._wrap(topic, handler), keyed=keyed, concurrency=concurrency
        )

    def _wrap(self, topic: str, handler: Handler) -> Handler:
        records = self.records
        starts = topic.startswith(_TASK_EXECUTOR)
        if self.observations is None:

            async def noted(payload: bytes) -> None:
                records.append((STARTED, topic, payload, 0.0, time.time()))
                await handler(payload)

            return noted if starts else handler
        observe, failed = self.observations.handling(topic)
        clock = time.perf_counter

        async def timed(payload: bytes) -> None:
            if starts:
                records.append((STARTED, topic, payload, 0.0, time.time()))
            begin = clock()
            try:
                await handler(payload)
            except Exception:
                failed()
                raise
            finally:
                observe(clock() - begin)

        return timed

    async def dead_letter(self, topic: str, payload: bytes, reason: str) -> None:
        await self.inner.dead_letter(topic, payload, reason)


class TaskRecords:
    """Turns the tap's task records into `infinitic.task.*` events and task metrics."""

    def __init__(
        self,
        worker: str,
        emit: Callable[[Record], None] | None,
        includes: Callable[[str], bool],
        observations: Observations | None,
    ) -> None:
        self.worker = worker
        self.emit = emit
        self.includes = includes
        self.observations = observations
        # a result sent to both the workflow and a waiting client is one event: the two sends
        # carry equal bytes, seen within two flushes of each other (rotated by `flushed`)
        self._results: set[bytes] = set()
        self._results_before: set[bytes] = set()
        # an ExecuteTask sent here and started here is decoded once (the bytes are the key)
        self._sent: dict[bytes, m.ExecuteTask] = {}
        self._running: dict[str, tuple[float, str, str]] = {}  # task id -> (start, service, task)
        self._sources: dict[str, str | None] = {}  # service -> source path (None: not heard)

    def flushed(self) -> None:
        self._results_before, self._results = self._results, set()
        if len(self._sent) > 100_000:  # sent elsewhere's consumers: never started here
            self._sent.clear()

    def process(self, record: tuple[int, str, bytes, float, float]) -> None:
        kind, topic, payload, delay, at = record
        msg: Any = self._sent.pop(payload, None) if kind == STARTED else None
        if msg is None:
            try:
                msg = m.decode(payload)
            except EnvelopeError:
                return  # the consumer dead-letters it
        kind_of = type(msg)
        if kind_of is m.ExecuteTask:
            if kind == STARTED:
                self._started(msg, at)
                return
            self._sent[payload] = msg
            if msg.retry_index > 0:  # an automatic retry (a manual one starts again at 0)
                self._retry(msg, delay, at)
            else:
                self._event(t.TASK_DISPATCH, msg, at, data.task_dispatch, msg, msg.message_id)
        elif kind_of is m.TaskCompleted or kind_of is m.TaskFailed:
            if payload in self._results or payload in self._results_before:
                return
            self._results.add(payload)
            completed = kind_of is m.TaskCompleted
            if self.observations is not None:
                self._ended(msg.task_id, "completed" if completed else "failed", at)
            if completed:
                self._event(t.TASK_COMPLETED, msg, at, data.task_completed, (msg, self.worker))
            else:
                self._event(t.TASK_FAILED, msg, at, data.task_failed, (msg, self.worker))

    def _started(self, msg: m.ExecuteTask, at: float) -> None:
        if self.observations is not None:
            self._running[msg.task_id] = (at, msg.service_name, msg.task_name)
            if msg.retry_index > 0:
                self.observations.retry_backlog(msg.service_name, -1)
        event_id = f"{msg.message_id}/started"
        self._event(t.TASK_STARTED, msg, at, data.task_started, (msg, self.worker), event_id)

    def _retry(self, msg: m.ExecuteTask, delay: float, at: float) -> None:
        if self.observations is not None:
            self.observations.retry_backlog(msg.service_name, 1)
            self._ended(msg.task_id, "retried", at)
        arg = (msg, delay, self.worker)
        self._event(t.TASK_RETRY_SCHEDULED, msg, at, data.task_retry_scheduled, arg)

    def _ended(self, task_id: str, outcome: str, at: float) -> None:
        started = self._running.pop(task_id, None)
        if started is not None and self.observations is not None:
            begin, service, task = started
            self.observations.task_attempt(service, task, outcome, max(0.0, at - begin))

    def _event(
        self,
        etype: str,
        msg: m.ExecuteTask | m.TaskCompleted | m.TaskFailed,
        at: float,
        build: Callable[[Any], dict[str, Any]],
        arg: Any,
        event_id: str | None = None,
    ) -> None:
        if self.emit is None:
            return
        service = msg.service_name
        try:
            where = self._sources[service]
        except KeyError:
            where = self._sources[service] = (
                source("services/executor", service) if self.includes(service) else None
            )
        if where is not None:
            self.emit((etype, where, msg.task_id, event_id or msg.message_id, at, build, arg))
