"""PulsarTransport: producers per topic, key-shared and shared consumers, delayed delivery.

A thread per subscription receives its messages in bursts (receiver.py), and Pulsar's client
calls back on its own threads with send receipts; both are handed to the event loop in batches
(one wake-up for all that arrived meanwhile) and handled there.

Pipelined: while a handler runs, what it sends is handed to its producer and not waited for
(Pulsar keeps each producer's order); the handler returns once its own work is durable (an
engine: its state and outbox saved), and its shard takes the next message. The message is
acknowledged once its handler returned AND every send it made is confirmed; a send that fails
is sent again until it is (the outbox it came from is saved: a worker that dies meanwhile
leaves the message unacknowledged, and its next owner re-sends what the saved outbox owes).
A handler that raises gets its message negatively acknowledged for redelivery, and past
`maxRedeliverCount` it goes to `<topic>-dlq` with the reason. When more than `maxInFlight`
messages of a subscription are handled or awaiting their sends, its receiving pauses.

Coalescing (`consumer.maxCoalesced`): a lane whose next messages, right behind the one it took,
have the same key hands them all to a RunHandler at once; they are acknowledged, or redelivered,
together (docs/topics.md).

In-process hand-off (`handOffInProcess`, on by default): a workflow task sent while this
transport consumes the workflow-task-executor topic of that workflow is run here, without the
broker round trip, and its result goes back here to the engine that owns the workflow's key;
see docs/topics.md. Keyed messages carry a bucket of their key as Pulsar ordering key
(`producer.keyBuckets`): Key_Shared routes, and producers batch, by bucket.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from datetime import timedelta
from typing import Any

from ..base import Handler, Transport
from .admin import ensure_namespace
from .calls import Calls, Inbox
from .errors import PulsarConnectionError, PulsarTransportError
from .probe import diagnose
from .settings import PulsarSettings
from .subscription import SENDS, Sends, Subscription

log = logging.getLogger("infinitic.transport.pulsar")

SUBSCRIPTION = "infinitic"


__all__ = ["PulsarConnectionError", "PulsarTransport", "PulsarTransportError"]

# the C++ client's own log lines (connections, lookups, errors), through Python logging
CLIENT_LOGGER = "infinitic.transport.pulsar.client"

HAND_OFF_PREFIX = "workflow-task-executor:"
RETRY_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)


class PulsarTransport(Transport):
    task_messages_per_thread = 4

    def __init__(self, settings: PulsarSettings) -> None:
        self.settings = settings
        self._client: Any = None
        self._producers: dict[tuple[str, str], Any] = {}
        self._producer_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._subscriptions: list[Subscription] = []
        self._pending: asyncio.Semaphore | None = None
        self._receipts: Inbox = None  # type: ignore[assignment]
        # the threads that make the client's sends and acknowledgements (see Calls)
        self.calls: Calls = None  # type: ignore[assignment]
        self.acks: Calls = None  # type: ignore[assignment]
        # topics whose messages sent from a handler are handled here (in-process hand-off)
        self._local: dict[str, Subscription] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.users = 1
        # the ordering keys of keyed messages (producer.keyBuckets), built once
        self._buckets = [str(i) for i in range(settings.key_buckets)]

    @property
    def workflow_tasks_in_process(self) -> bool:  # type: ignore[override]
        """With the hand-off on, an engine runs its workflow tasks in its own step."""
        return self.settings.hand_off_in_process and self.settings.pipelined

    def __repr__(self) -> str:
        s = self.settings
        return f"PulsarTransport({s.broker_service_url!r}, {s.tenant}/{s.namespace})"

    async def start(self) -> None:
        if self._client is not None:
            return
        import pulsar

        self.loop = asyncio.get_running_loop()
        self._pending = asyncio.Semaphore(self.settings.max_pending_messages)
        self._receipts = Inbox(self.loop, self._receipt)
        if self.settings.create_tenant_and_namespace:
            await self.loop.run_in_executor(None, ensure_namespace, self.settings)
        s = self.settings
        kwargs: dict[str, Any] = {
            "operation_timeout_seconds": int(s.operation_timeout_seconds) or 1,
            "connection_timeout_ms": int(s.connection_timeout_seconds * 1000) or 1000,
            "io_threads": s.io_threads or 1,
            "message_listener_threads": s.listener_threads or 1,
            "tls_allow_insecure_connection": s.tls_allow_insecure_connection,
            "tls_validate_hostname": s.tls_validate_hostname,
            "logger": _client_logger(pulsar),
        }
        if s.tls_trust_certs_file_path:
            kwargs["tls_trust_certs_file_path"] = s.tls_trust_certs_file_path
        if s.tls_certificate_file_path:
            kwargs["tls_certificate_file_path"] = s.tls_certificate_file_path
        if s.tls_key_file_path:
            kwargs["tls_private_key_file_path"] = s.tls_key_file_path
        if s.token:
            kwargs["authentication"] = pulsar.AuthenticationToken(s.token)
        elif s.oauth2:
            import json

            params = {
                "type": "client_credentials",
                "issuer_url": s.oauth2["issuerUrl"],
                "private_key": s.oauth2["privateKey"],
            }
            if "audience" in s.oauth2:
                params["audience"] = s.oauth2["audience"]
            kwargs["authentication"] = pulsar.AuthenticationOauth2(json.dumps(params))
        try:
            client = pulsar.Client(s.broker_service_url, **kwargs)
        except Exception as exc:  # noqa: BLE001 - e.g. an unreadable trust file
            raise PulsarConnectionError(
                f"pulsar broker {s.broker_service_url}: cannot create the client: {exc}"
            ) from None
        try:
            await self.loop.run_in_executor(None, self._check_connection, client)
        except BaseException:
            await self.loop.run_in_executor(None, client.close)
            raise
        self.calls = Calls(self.loop, "sends")
        self.acks = Calls(self.loop, "acks")
        self._client = client

    def _check_connection(self, client: Any) -> None:
        """Fail at start, saying why, rather than at the first send or subscribe: the
        client only connects then, and reports a refused token as a timeout."""
        import pulsar

        try:
            client.get_topic_partitions(self.settings.topic("infinitic-connection-check"))
        except (pulsar.Timeout, pulsar.ConnectError, pulsar.AuthenticationError) as exc:
            log.debug("pulsar connection check failed: %s", type(exc).__name__)
            raise diagnose(
                self.settings, max(1.0, min(10.0, self.settings.connection_timeout_seconds))
            ) from None
        except Exception as exc:  # noqa: BLE001 - e.g. no such namespace: reported on use
            log.debug("pulsar connection check: %s: %s", type(exc).__name__, exc)

    async def close(self) -> None:
        self.users -= 1
        if self.users > 0 or self._client is None:
            return
        tasks = {t for sub in self._subscriptions for t in sub.tasks} | self._background
        self._local.clear()
        while tasks:  # a handler may swallow one cancellation: see the in-memory transport
            for task in tasks:
                task.cancel()
            _, tasks = await asyncio.wait(tasks, timeout=0.5)
        client, self._client = self._client, None
        receivers = [s.receiver for s in self._subscriptions if s.receiver is not None]
        for receiver in receivers:
            receiver.stop()
        for calls in (self.calls, self.acks):  # the sends and acknowledgements queued
            await self.loop.run_in_executor(None, calls.close)
        await self.loop.run_in_executor(
            None,
            _close_client,
            client,
            list(self._producers.values()),
            [s.consumer for s in self._subscriptions],
        )
        for receiver in receivers:  # woken by their consumer's close
            await self.loop.run_in_executor(None, receiver.join, 1.0)
        self._producers.clear()
        self._subscriptions.clear()

    @property
    def closed(self) -> bool:
        return self._client is None

    async def _producer(self, topic: str, mode: str) -> Any:
        key = (topic, mode)
        producer = self._producers.get(key)
        if producer is not None:
            return producer
        lock = self._producer_locks.setdefault(key, asyncio.Lock())
        async with lock:
            producer = self._producers.get(key)
            if producer is None:
                producer = await self.loop.run_in_executor(None, self._create_producer, topic, mode)
                self._producers[key] = producer
        return producer

    def _create_producer(self, topic: str, mode: str) -> Any:
        import pulsar

        s = self.settings
        kwargs: dict[str, Any] = {
            "max_pending_messages": s.max_pending_messages,
            "block_if_queue_full": False,
            "compression_type": getattr(
                pulsar.CompressionType,
                s.compression_type if s.compression_type != "ZLIB" else "ZLib",
            ),
            # delayed messages must not be batched; keyed ones are batched per key
            "batching_enabled": s.batching_enabled and mode != "delayed",
            "batching_max_publish_delay_ms": s.batching_max_publish_delay_ms,
        }
        if mode == "keyed":
            kwargs["batching_type"] = pulsar.BatchingType.KeyBased
        try:
            return self._client.create_producer(self.settings.topic(topic), **kwargs)
        except Exception as exc:  # noqa: BLE001 - pulsar raises its own hierarchy
            raise PulsarTransportError(f"cannot create a producer on {topic}: {exc}") from None

    async def send(
        self, topic: str, payload: bytes, *, key: str | None = None, delay: float = 0.0
    ) -> None:
        if self._client is None:
            raise PulsarTransportError("the pulsar transport is not started")
        sends = SENDS.get()
        if sends is not None and not sends.open:
            sends = None  # sent after its handler returned (a background task): awaited
        if sends is not None and delay <= 0 and self._local:
            local = self._local.get(topic)
            if local is None and key is not None and key == sends.owned_key:
                owner = sends.owner
                if owner is not None and owner.topic == topic:
                    local = owner  # e.g. a workflow task's result, back to its engine
            if local is not None:
                self._hand_off(local, payload, key, sends)
                return
        mode = "delayed" if delay > 0 else "keyed" if key else "plain"
        producer = await self._producer(topic, mode)
        assert self._pending is not None
        # at most max_pending_messages in flight: no ProducerQueueIsFull
        await self._pending.acquire()
        kwargs: dict[str, Any] = {}
        if key:
            kwargs["partition_key"] = key
            if self._buckets:
                # what Key_Shared routes by and key-based batching groups by: one batch (one
                # broker entry) carries the messages of many workflows, each still with its key
                kwargs["ordering_key"] = self._buckets[
                    zlib.crc32(key.encode()) % len(self._buckets)
                ]
        if delay > 0:
            kwargs["deliver_after"] = timedelta(seconds=delay)
        if sends is not None:
            # pipelined: the receipt settles the handled message, not this call
            sends.add()
            put = self._receipts.put
            receipt = (self, topic, payload, key, delay, sends)
            self.calls.call(
                producer.send_async,
                (payload, lambda result, _id: put((receipt, result))),
                kwargs,
                lambda error: put((receipt, error)),  # sent again, as a failed receipt is
            )
            return
        future: asyncio.Future[Any] = self.loop.create_future()

        def done(result: Any, message_id: Any) -> None:
            self.loop.call_soon_threadsafe(_resolve, future, result)

        self.calls.call(producer.send_async, (payload, done), kwargs, lambda e: done(e, None))
        try:
            result = await future
        finally:
            self._pending.release()
        if not _ok(result):
            raise PulsarTransportError(f"sending to {topic} failed: {result}")

    def _receipt(self, item: tuple[tuple[Any, ...], Any]) -> None:
        (_, topic, payload, key, delay, sends), result = item
        assert self._pending is not None
        self._pending.release()
        if _ok(result):
            sends.done()
            return
        log.warning("sending to %s failed (%s): sending it again", topic, result)
        self.spawn(self.resend(topic, payload, key, delay, sends, wait=True))

    def spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def resend(
        self,
        topic: str,
        payload: bytes,
        key: str | None,
        delay: float,
        sends: Sends,
        *,
        wait: bool,
    ) -> None:
        """Until it is confirmed; a transport that closes meanwhile leaves the handled message
        unacknowledged (redelivered, and its saved outbox re-sent by its next owner)."""
        SENDS.set(None)  # this task's own context: each attempt awaits its receipt
        attempt = 0
        while not self.closed:
            if wait or attempt:
                await asyncio.sleep(RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)])
            attempt += 1
            try:
                await self.send(topic, payload, key=key, delay=delay)
            except PulsarTransportError as exc:
                log.warning("sending to %s failed again (%s)", topic, exc)
                continue
            sends.done()
            return

    def _hand_off(self, sub: Subscription, payload: bytes, key: str | None, sends: Sends) -> None:
        """Runs a workflow task here rather than through the broker; the handled message that
        sent it is acknowledged once the task's own sends are confirmed. A task that fails
        here goes through the broker after all (its redeliveries and dead letter apply)."""
        sends.add()
        sub.hand_over(payload, key, sends)

    async def subscribe(
        self,
        topic: str,
        handler: Handler,
        *,
        keyed: bool = False,
        concurrency: int = 1,
        subscription: str | None = None,
    ) -> None:
        """`subscription`: a shared subscription of that name rather than the workers' own
        (the event listener's `subscriptionName`: its consumers share the topic's messages, and
        another name gets them all again)."""
        import pulsar

        if self._client is None:
            raise PulsarTransportError("the pulsar transport is not started")
        sub = Subscription(self, topic, handler, keyed, concurrency)
        s = self.settings
        exclusive = topic.startswith("response:")
        kwargs: dict[str, Any] = {
            "consumer_type": pulsar.ConsumerType.Exclusive
            if exclusive
            else pulsar.ConsumerType.KeyShared
            if keyed
            else pulsar.ConsumerType.Shared,
            # received by a thread of the subscription (receiver.py), not a listener; a
            # zero queue is for listeners only
            "receiver_queue_size": max(1, s.receiver_queue_size),
            "negative_ack_redelivery_delay_ms": int(s.negative_ack_redelivery_delay_seconds * 1000),
            "initial_position": pulsar.InitialPosition.Earliest,
        }
        if s.ack_timeout_seconds:
            kwargs["unacked_messages_timeout_ms"] = int(s.ack_timeout_seconds * 1000)
        if subscription is None:
            subscription = f"{SUBSCRIPTION}-{topic}" if exclusive else SUBSCRIPTION

        def create() -> Any:
            try:
                return self._client.subscribe(s.topic(topic), subscription, **kwargs)
            except Exception as exc:  # noqa: BLE001
                raise PulsarTransportError(f"cannot subscribe to {topic}: {exc}") from None

        try:
            consumer = await self.loop.run_in_executor(None, create)
        except BaseException:
            for task in sub.tasks:
                task.cancel()
            raise
        sub.start_receiving(consumer)
        self._subscriptions.append(sub)
        if s.hand_off_in_process and s.pipelined and topic.startswith(HAND_OFF_PREFIX):
            self._local[topic] = sub

    async def dead_letter(self, topic: str, payload: bytes, reason: str) -> None:
        log.error("dead-lettered a message of %s: %s", topic, reason)
        producer = await self._producer(f"{topic}-dlq", "plain")
        future: asyncio.Future[Any] = self.loop.create_future()
        producer.send_async(
            payload,
            lambda result, _id: self.loop.call_soon_threadsafe(_resolve, future, result),
            properties={"reason": reason[:2000], "topic": topic},
        )
        await future


def _ok(result: Any) -> bool:
    """Whether a send receipt says Ok: pulsar's Result, whose Ok is 0 (int() costs a sixth of
    str() on its enum, once per message), or a name."""
    try:
        return int(result) == 0
    except (TypeError, ValueError):
        return str(result) in ("Ok", "Result.Ok")


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _close_client(client: Any, producers: list[Any], consumers: list[Any]) -> None:
    for producer in producers:
        try:
            producer.flush()
            producer.close()
        except Exception:  # noqa: BLE001 - closing anyway
            pass
    for consumer in consumers:
        try:
            consumer.close()
        except Exception:  # noqa: BLE001
            pass
    client.close()


def _client_logger(pulsar: Any) -> Any:
    """Where the C++ client logs. To Python logging (logger CLIENT_LOGGER) when the
    application enabled INFO or DEBUG there, e.g. to trace connections; else, as before, its
    warnings and errors to stdout: a Python logger gets every C++ record through the GIL
    even when Python drops it, and that cost is not worth paying on the hot path."""
    logger = logging.getLogger(CLIENT_LOGGER)
    if logger.isEnabledFor(logging.INFO):
        return logger
    try:
        return pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn)
    except AttributeError:  # pragma: no cover - older clients
        return None
