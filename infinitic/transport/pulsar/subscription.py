"""A subscription of the Pulsar transport: its lanes (shards) on the event loop, coalescing,
in-process hand-over, redelivery, dead letters; and the sends of the message it handles, which
is acknowledged once its handler returned and every send it made is confirmed (pipelining,
docs/topics.md)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from ..base import Handler, run_handler, take_queued
from .calls import Calls, Inbox
from .receiver import Receiver
from .settings import PulsarSettings

log = logging.getLogger("infinitic.transport.pulsar")


class Host(Protocol):
    """What a subscription uses of its transport (PulsarTransport), which imports this module."""

    settings: PulsarSettings
    acks: Calls

    @property
    def closed(self) -> bool: ...

    def spawn(self, coro: Any) -> None: ...

    async def resend(
        self,
        topic: str,
        payload: bytes,
        key: str | None,
        delay: float,
        sends: Sends,
        *,
        wait: bool,
    ) -> None: ...

    async def dead_letter(self, topic: str, payload: bytes, reason: str) -> None: ...


# the sends of the message being handled, in the handler's context (None: not in a handler)
SENDS: contextvars.ContextVar[Sends | None] = contextvars.ContextVar(
    "infinitic_pulsar_sends", default=None
)


class Sends:
    """The sends a handled message made that are not confirmed yet; `then` runs once its
    handler returned and every one of them is confirmed (never if the handler failed)."""

    __slots__ = ("count", "open", "then", "owner", "owned_key")

    def __init__(
        self,
        then: Callable[[], None],
        owner: Subscription | None = None,
        owned_key: str | None = None,
    ) -> None:
        self.count = 0
        self.open = True  # the handler runs: its sends join this set
        self.then: Callable[[], None] | None = then
        # the keyed subscription, and the key, of the broker message this chain started from:
        # this worker owns that key there, so a message of the chain to that very key is
        # handled here (in-process hand-off back to the engine)
        self.owner = owner
        self.owned_key = owned_key

    def add(self) -> None:
        self.count += 1

    def done(self) -> None:
        self.count -= 1
        if self.count == 0 and not self.open and self.then is not None:
            then, self.then = self.then, None
            then()

    def close(self, ok: bool) -> None:
        self.open = False
        if not ok:
            self.then = None
        elif self.count == 0 and self.then is not None:
            then, self.then = self.then, None
            then()


class Handed:
    """A message handed over in process, in a lane's queue beside the broker's messages."""

    __slots__ = ("payload", "key", "outer")

    def __init__(self, payload: bytes, key: str | None, outer: Sends) -> None:
        self.payload, self.key, self.outer = payload, key, outer


class Subscription:
    def __init__(
        self,
        transport: Host,
        topic: str,
        handler: Handler,
        keyed: bool,
        concurrency: int,
    ) -> None:
        self.transport = transport
        self.topic = topic
        self.handler = handler
        self.keyed = keyed
        # a run of one key's queued messages handed over at once (coalescing, docs/topics.md)
        self.many = run_handler(handler, keyed)
        self.consumer: Any = None
        self.receiver: Receiver | None = None
        self.in_flight = 0
        self.paused = False
        # a shard is a coroutine, not a thread: a keyed subscription gets at least
        # `keyedShards` of them, so one worker keeps its storage and the broker busy
        shards = max(concurrency, transport.settings.keyed_shards) if keyed else 1
        self.queues: list[asyncio.Queue[Any]] = [asyncio.Queue() for _ in range(shards)]
        workers = 1 if keyed else concurrency
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._work(q)) for q in self.queues for _ in range(workers)]
        self._inbox = Inbox(loop, self._enqueue)

    def start_receiving(self, consumer: Any) -> None:
        self.consumer = consumer
        self.receiver = Receiver(consumer, self.deliver, f"infinitic-pulsar-receive-{self.topic}")
        self.receiver.start()

    def deliver(self, messages: list[Any]) -> None:
        """On the receiving thread: a burst of the broker's messages."""
        self._inbox.put_many(messages)

    def _lane(self, key: str | None) -> asyncio.Queue[Any]:
        return self.queues[zlib.crc32(key.encode()) % len(self.queues)] if key else self.queues[0]

    def hand_over(self, payload: bytes, key: str | None, outer: Sends) -> None:
        """A message sent in this process, handled in the lane of its key as if the broker
        had delivered it (one at a time per key, as the executor's live runs expect)."""
        self._lane(key if self.keyed else None).put_nowait(Handed(payload, key, outer))

    def _enqueue(self, message: Any) -> None:
        self._lane(message.partition_key() if self.keyed else None).put_nowait(message)
        self.in_flight += 1
        if not self.paused and self.in_flight >= self.transport.settings.max_in_flight:
            self.paused = True
            if self.receiver is not None:
                self.receiver.pause()

    def _settled(self) -> None:
        self.in_flight -= 1
        if self.paused and self.in_flight <= self.transport.settings.max_in_flight // 2:
            self.paused = False
            if self.receiver is not None:
                self.receiver.resume()

    async def _work(self, queue: asyncio.Queue[Any]) -> None:
        most = self.transport.settings.max_coalesced if self.many is not None else 1
        while True:
            message = await queue.get()
            if type(message) is Handed:
                await self.run_local(message.payload, message.key, message.outer)
                continue
            messages = [message]
            if most > 1 and not message.redelivery_count():
                messages += self._run_after(queue, message.partition_key(), most - 1)
            acked = False
            try:
                acked = await self._handle(messages)
            finally:
                if not acked:
                    for _ in messages:
                        self._settled()

    @staticmethod
    def _run_after(queue: asyncio.Queue[Any], key: str, most: int) -> list[Any]:
        """The broker's messages of `key` queued right behind the one taken, none delivered
        before: one that comes again is handled alone, so a message that keeps failing cannot
        take its neighbours with it to the dead letter topic."""

        def joins(item: Any) -> bool:
            if type(item) is Handed:
                return False
            return bool(item.partition_key() == key and item.redelivery_count() == 0)

        return take_queued(queue, joins, most)

    async def run_local(self, payload: bytes, key: str | None, outer: Sends) -> None:
        """A message handed over in process (PulsarTransport._hand_off): `outer` is settled
        once it is handled and its own sends are confirmed."""
        inner = Sends(outer.done, outer.owner, outer.owned_key)
        token = SENDS.set(inner)
        try:
            await self.handler(payload)
        except asyncio.CancelledError:
            inner.close(False)
            raise
        except Exception as exc:  # noqa: BLE001 - through the broker after all
            inner.close(False)
            log.warning(
                "a message handed over to %s in process failed (%s: %s): sent through the broker",
                self.topic,
                type(exc).__name__,
                exc,
            )
            self.transport.spawn(
                self.transport.resend(self.topic, payload, key, 0.0, outer, wait=False)
            )
            return
        finally:
            SENDS.reset(token)
        inner.close(True)

    def _acknowledge(self, messages: list[Any]) -> None:
        for _ in messages:
            self._settled()
        if self.transport.closed:
            return  # not acknowledged: redelivered to the next owner, whose outbox re-sends
        for message in messages:
            self.transport.acks.call(self.consumer.acknowledge, (message,), {}, _ack_failed)

    async def _handle(self, messages: list[Any]) -> bool:
        """Handles one message, or a run of one key's (`many`: all acknowledged, or all
        redelivered, together); whether the acknowledgement is left to the sends (they settle
        the messages)."""
        first = messages[0]
        sends = (
            Sends(lambda: self._acknowledge(messages), self, first.partition_key())
            if self.keyed
            else Sends(lambda: self._acknowledge(messages))
        )
        token = SENDS.set(sends if self.transport.settings.pipelined else None)
        try:
            if len(messages) == 1:
                await self.handler(first.data())
            else:
                assert self.many is not None
                await self.many([message.data() for message in messages])
        except asyncio.CancelledError:
            sends.close(False)
            raise
        except Exception as exc:  # noqa: BLE001 - redelivered, then dead-lettered
            sends.close(False)
            limit = self.transport.settings.max_redeliver_count
            again = sum(1 for message in messages if message.redelivery_count() < limit)
            if again:
                log.warning(
                    "redelivering %s of %s after %s: %s",
                    "a message" if again == 1 else f"{again} messages",
                    self.topic,
                    type(exc).__name__,
                    exc,
                )
            for message in messages:
                count = message.redelivery_count()
                if count < limit:
                    self.consumer.negative_acknowledge(message)
                    continue
                reason = f"handler failed {count + 1} times: {type(exc).__name__}: {exc}"
                await self.transport.dead_letter(self.topic, message.data(), reason)
                self.consumer.acknowledge(message)
            return False
        finally:
            SENDS.reset(token)
        if sends.count == 0:
            sends.close(False)
            for message in messages:
                self.consumer.acknowledge(message)
            return False
        sends.close(True)  # acknowledged (and settled) once its sends are confirmed
        return True


def _ack_failed(error: Exception) -> None:
    """On the calls thread: the message stays unacknowledged, so it is redelivered (its
    handling is idempotent)."""
    log.warning("acknowledging a message failed (%s: %s)", type(error).__name__, error)
