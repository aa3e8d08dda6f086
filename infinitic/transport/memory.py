"""The in-memory transport: asyncio queues in one process, carrying the real encoded bytes."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

from .base import MAX_COALESCED, DeadLetter, Handler, Transport, run_handler, take_queued

log = logging.getLogger("infinitic.transport.memory")


class _Subscription:
    """Consumers of one topic: shards keyed by crc32(key) for ordering, else one shared queue."""

    def __init__(
        self,
        transport: InMemoryTransport,
        topic: str,
        handler: Handler,
        keyed: bool,
        concurrency: int,
    ) -> None:
        self.transport = transport
        self.topic = topic
        self.handler = handler
        self.keyed = keyed
        self.many = run_handler(handler, keyed)
        shards = concurrency if keyed else 1
        self.queues: list[asyncio.Queue[tuple[bytes, str | None, int]]] = [
            asyncio.Queue() for _ in range(shards)
        ]
        consumers = 1 if keyed else concurrency
        self.tasks = [
            asyncio.get_running_loop().create_task(self._consume(queue), name=f"consume {topic}")
            for queue in self.queues
            for _ in range(consumers)
        ]

    def put(self, payload: bytes, key: str | None, attempt: int = 0) -> None:
        if self.keyed and len(self.queues) > 1:
            shard = zlib.crc32(key.encode()) % len(self.queues) if key else 0
            self.queues[shard].put_nowait((payload, key, attempt))
        else:
            self.queues[0].put_nowait((payload, key, attempt))

    async def _consume(self, queue: asyncio.Queue[tuple[bytes, str | None, int]]) -> None:
        while True:
            payload, key, attempt = await queue.get()
            run = self._run_after(queue, key) if self.many is not None and not attempt else None
            try:
                if run:
                    assert self.many is not None
                    await self.many([payload, *run])
                else:
                    await self.handler(payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a handler failure means redelivery
                for each in [payload, *run] if run else [payload]:
                    await self.transport._redeliver(self.topic, each, key, attempt, exc)
            finally:
                for _ in range(1 + len(run) if run else 1):
                    queue.task_done()

    def _run_after(
        self, queue: asyncio.Queue[tuple[bytes, str | None, int]], key: str | None
    ) -> list[bytes]:
        """The messages of `key` queued right behind the one taken, never delivered before (a
        redelivered one is handled alone: a message that keeps failing fails by itself)."""
        if not key:
            return []
        run = take_queued(queue, lambda item: item[1] == key and not item[2], MAX_COALESCED - 1)
        return [payload for payload, _, _ in run]

    def pending(self) -> int:
        return sum(q.qsize() + q._unfinished_tasks for q in self.queues)  # type: ignore[attr-defined]


class Scheduler(Protocol):
    """Runs `callback` after `delay` seconds; asyncio's loop is one, a virtual clock another."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Any: ...


class InMemoryTransport(Transport):
    """One process's message bus. Messages sent before a topic has a subscriber wait for it.

    Delayed sends (timers, retries, deadlines) go through `scheduler`, the event loop unless a
    test environment set its virtual clock there; a scheduler's deliveries are its own to count
    and cancel, so `pending()` does not include them.
    """

    workflow_tasks_in_process = True  # one process: every executor is here
    task_messages_per_thread = 4

    def __init__(
        self,
        *,
        max_redeliveries: int = 3,
        redelivery_delay: float = 0.05,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.max_redeliveries = max_redeliveries
        self.redelivery_delay = redelivery_delay
        self.dead_letters: list[DeadLetter] = []
        self._subscriptions: dict[str, _Subscription] = {}
        self._waiting: dict[str, list[tuple[bytes, str | None]]] = defaultdict(list)
        self._timers: set[asyncio.TimerHandle] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.users = 0  # shared by the workers and clients of one process (transport.factory)

    @property
    def closed(self) -> bool:
        return self._closed

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self.users -= 1
        if self.users > 0:
            return
        self._closed = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        tasks = {t for sub in self._subscriptions.values() for t in sub.tasks}
        # a handler may swallow one cancellation (asyncio.wait_for's race in 3.10/3.11 does,
        # and so can a driver): cancel until every consumer has really stopped
        while tasks:
            for t in tasks:
                t.cancel()
            _, tasks = await asyncio.wait(tasks, timeout=0.5)
        self._subscriptions.clear()

    async def send(
        self, topic: str, payload: bytes, *, key: str | None = None, delay: float = 0.0
    ) -> None:
        self.send_nowait(topic, payload, key=key, delay=delay)

    def send_nowait(
        self, topic: str, payload: bytes, *, key: str | None = None, delay: float = 0.0
    ) -> None:
        """Sends from the loop's thread without awaiting (the in-memory send cannot block)."""
        if self._closed:
            raise RuntimeError("the in-memory transport is closed")
        if delay > 0 and self.scheduler is not None:
            self.scheduler.call_later(delay, lambda: self._fire(topic, payload, key))
        elif delay > 0:
            loop = self._loop or asyncio.get_running_loop()
            handle: asyncio.TimerHandle

            def fire() -> None:
                self._timers.discard(handle)
                self._fire(topic, payload, key)

            handle = loop.call_later(delay, fire)
            self._timers.add(handle)
        else:
            self._deliver(topic, payload, key)

    def _fire(self, topic: str, payload: bytes, key: str | None) -> None:
        if not self._closed:
            self._deliver(topic, payload, key)

    def _deliver(self, topic: str, payload: bytes, key: str | None) -> None:
        sub = self._subscriptions.get(topic)
        if sub is None:
            self._waiting[topic].append((payload, key))
        else:
            sub.put(payload, key)

    async def subscribe(
        self, topic: str, handler: Handler, *, keyed: bool = False, concurrency: int = 1
    ) -> None:
        if topic in self._subscriptions:
            raise ValueError(f"topic {topic!r} already has a subscriber in this process")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        sub = _Subscription(self, topic, handler, keyed, concurrency)
        self._subscriptions[topic] = sub
        for payload, key in self._waiting.pop(topic, []):
            sub.put(payload, key)

    async def dead_letter(self, topic: str, payload: bytes, reason: str) -> None:
        log.error("dead-lettered a message of %s: %s", topic, reason)
        self.dead_letters.append(DeadLetter(topic, payload, reason))

    async def _redeliver(
        self, topic: str, payload: bytes, key: str | None, attempt: int, exc: BaseException
    ) -> None:
        if attempt >= self.max_redeliveries:
            reason = f"handler failed {attempt + 1} times: {type(exc).__name__}: {exc}"
            await self.dead_letter(topic, payload, reason)
            return
        log.warning("redelivering a message of %s after %s: %s", topic, type(exc).__name__, exc)
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            sub = self._subscriptions.get(topic)
            if sub is not None and not self._closed:
                sub.put(payload, key, attempt + 1)

        handle = loop.call_later(self.redelivery_delay * (attempt + 1), fire)
        self._timers.add(handle)

    def pending(self) -> int:
        """Messages queued or being handled, plus scheduled deliveries (for tests and drains)."""
        return len(self._timers) + sum(s.pending() for s in self._subscriptions.values())
