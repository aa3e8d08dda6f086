"""The task tap and the timed transport: what a worker's executors and handlers do.

`TaskTap` is called by each task executor (executors/task.py) with the messages it already
decoded: a task started, was scheduled for a retry, or ended. It makes the `infinitic.task.*`
events and the task metrics, without decoding anything again. `TimedTransport` wraps the
worker's transport when metrics are on: it times each handler, per topic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from ..common import messages as m
from ..transport.base import Handler, RunHandler, Transport
from . import types as t
from .record import Record, source

log = logging.getLogger("infinitic.events")
T = TypeVar("T")


class Observations(Protocol):
    """What the metrics module is told (worker/metrics.py implements it)."""

    def handling(self, topic: str) -> tuple[Callable[[float], None], Callable[[], None]]:
        """(observe(seconds) of each message handled, failed() when a handler raised)."""
        ...

    def task_attempt(self, service: str, task: str, outcome: str, seconds: float) -> None: ...
    def retry_backlog(self, service: str, delta: int) -> None: ...
    def workflow(self, name: str, transition: str, running_delta: int) -> None: ...


class TimedTransport(Transport):
    """Forwards everything to `inner`, timing the handlers it subscribes."""

    def __init__(self, inner: Transport, observations: Observations) -> None:
        self.inner = inner
        self.observations = observations

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # send_nowait, pending, dead_letters...

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def send(
        self, topic: str, payload: bytes, *, key: str | None = None, delay: float = 0.0
    ) -> None:
        await self.inner.send(topic, payload, key=key, delay=delay)

    async def subscribe(
        self, topic: str, handler: Handler, *, keyed: bool = False, concurrency: int = 1
    ) -> None:
        observe, failed = self.observations.handling(topic)
        clock = time.perf_counter

        async def timed(payload: bytes) -> None:
            begin = clock()
            try:
                await handler(payload)
            except Exception:
                failed()
                raise
            finally:
                observe(clock() - begin)

        wrapped: Handler = timed
        if isinstance(handler, RunHandler):  # the engine's runs of one key stay runs
            many = handler.many

            async def timed_many(payloads: list[bytes]) -> None:
                # one observation per message, as for one at a time
                await timed_call(observe, failed, many(payloads), len(payloads))

            wrapped = RunHandler(timed, timed_many)
        await self.inner.subscribe(topic, wrapped, keyed=keyed, concurrency=concurrency)

    async def dead_letter(self, topic: str, payload: bytes, reason: str) -> None:
        await self.inner.dead_letter(topic, payload, reason)


async def timed_call(
    observe: Callable[[float], None],
    failed: Callable[[], None],
    call: Awaitable[T],
    messages: int = 1,
) -> T:
    """Awaits `call` (handling `messages` messages), observing its time shared among them and
    counting a failure when it raises."""
    begin = time.perf_counter()
    try:
        return await call
    except Exception:
        failed()
        raise
    finally:
        share = (time.perf_counter() - begin) / max(1, messages)
        for _ in range(messages):
            observe(share)


class TaskTap:
    """`infinitic.task.*` events and task metrics from an executor's own messages."""

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
        self._running: dict[str, float] = {}  # task id -> when its attempt started
        self._sources: dict[str, str | None] = {}  # service -> source path (None: not heard)

    def __call__(self, what: str, msg: m.ExecuteTask, detail: Any) -> None:
        try:
            if what == "started":
                self._started(msg)
            elif what == "retried":
                self._retried(msg, *detail)
            elif what == "delegated":
                self._delegated(msg)
            else:
                self._ended(msg, detail)
        except Exception:  # noqa: BLE001 - events are a view: never fail the task
            log.exception("events of task %s (%s)", msg.task_id, what)

    def _started(self, msg: m.ExecuteTask) -> None:
        now = time.time()
        obs = self.observations
        if obs is not None:
            self._running[msg.task_id] = time.perf_counter()
            if msg.retry_index > 0:
                obs.retry_backlog(msg.service_name, -1)
        where = self._where(msg.service_name)
        if where is None:
            return
        emit, tid, mid = self.emit, msg.task_id, msg.message_id
        assert emit is not None
        raw = m.encode(msg)  # kept as bytes while it waits for the listener (record.py)
        if msg.retry_index == 0:  # a dispatch (a retry is announced by retryScheduled)
            emit((t.TASK_DISPATCH, where, tid, mid, msg.emitted_at or now, "task_dispatch", raw))
        arg = (raw, self.worker)
        emit((t.TASK_STARTED, where, tid, f"{mid}/started", now, "task_started", arg))

    def _retried(self, msg: m.ExecuteTask, retry: m.ExecuteTask, delay: float) -> None:
        if self.observations is not None:
            self._attempt(msg, "retried")
            self.observations.retry_backlog(msg.service_name, 1)
        where = self._where(msg.service_name)
        if where is not None and self.emit is not None:
            arg = (m.encode(retry), delay, self.worker)
            self.emit((t.TASK_RETRY_SCHEDULED, where, msg.task_id, retry.message_id,
                       retry.emitted_at, "task_retry_scheduled", arg))  # fmt: skip

    def _delegated(self, msg: m.ExecuteTask) -> None:
        """The `@delegated` method returned: its result comes later, from the client."""
        if self.observations is not None:
            self._attempt(msg, "delegated")
        where = self._where(msg.service_name)
        if where is not None and self.emit is not None:
            self.emit((t.TASK_DELEGATION_COMPLETED, where, msg.task_id,
                       f"{msg.message_id}/delegationCompleted", time.time(),
                       "task_started", (m.encode(msg), self.worker)))  # fmt: skip

    def _ended(self, msg: m.ExecuteTask, reply: m.TaskCompleted | m.TaskFailed) -> None:
        completed = type(reply) is m.TaskCompleted
        if self.observations is not None:
            self._attempt(msg, "completed" if completed else "failed")
        where = self._where(msg.service_name)
        if where is not None and self.emit is not None:
            etype = t.TASK_COMPLETED if completed else t.TASK_FAILED
            build = "task_completed" if completed else "task_failed"
            self.emit((etype, where, msg.task_id, reply.message_id, reply.emitted_at, build,
                       (m.encode(reply), self.worker)))  # fmt: skip

    def _attempt(self, msg: m.ExecuteTask, outcome: str) -> None:
        begin = self._running.pop(msg.task_id, None)
        if begin is not None and self.observations is not None:
            seconds = time.perf_counter() - begin
            self.observations.task_attempt(msg.service_name, msg.task_name, outcome, seconds)

    def _where(self, service: str) -> str | None:
        if self.emit is None:
            return None
        try:
            return self._sources[service]
        except KeyError:
            heard = self.includes(service)
            where = self._sources[service] = source("services/executor", service) if heard else None
            return where
