"""PulsarTransport: producers per topic, key-shared and shared consumers, delayed delivery.

Pulsar's client calls back on its own threads; messages are handed to the event loop with
call_soon_threadsafe and handled there. A message is acknowledged only after its handler
returned (its effects are durable); a handler that raises gets it negatively acknowledged for
redelivery, and past `maxRedeliverCount` it goes to `<topic>-dlq` with the reason. When more
than `maxInFlight` messages of a subscription are being handled, its listener is paused.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from datetime import timedelta
from typing import Any

from ..base import Handler, Transport
from .admin import ensure_namespace
from .errors import PulsarConnectionError, PulsarTransportError
from .probe import diagnose
from .settings import PulsarSettings

log = logging.getLogger("infinitic.transport.pulsar")

SUBSCRIPTION = "infinitic"


__all__ = ["PulsarConnectionError", "PulsarTransport", "PulsarTransportError"]

# the C++ client's own log lines (connections, lookups, errors), through Python logging
CLIENT_LOGGER = "infinitic.transport.pulsar.client"


class _Subscription:
    def __init__(
        self,
        transport: PulsarTransport,
        topic: str,
        handler: Handler,
        keyed: bool,
        concurrency: int,
    ) -> None:
        self.transport = transport
        self.topic = topic
        self.handler = handler
        self.keyed = keyed
        self.consumer: Any = None
        self.in_flight = 0
        self.paused = False
        shards = concurrency if keyed else 1
        self.queues: list[asyncio.Queue[Any]] = [asyncio.Queue() for _ in range(shards)]
        workers = 1 if keyed else concurrency
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._work(q)) for q in self.queues for _ in range(workers)]

    def on_message(self, consumer: Any, message: Any) -> None:
        """On a Pulsar listener thread."""
        self.transport.loop.call_soon_threadsafe(self._enqueue, message)

    def _enqueue(self, message: Any) -> None:
        key = message.partition_key() if self.keyed else ""
        queue = self.queues[zlib.crc32(key.encode()) % len(self.queues)] if key else self.queues[0]
        queue.put_nowait(message)
        self.in_flight += 1
        if not self.paused and self.in_flight >= self.transport.settings.max_in_flight:
            self.paused = True
            self.consumer.pause_message_listener()

    async def _work(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            message = await queue.get()
            try:
                await self._handle(message)
            finally:
                self.in_flight -= 1
                if self.paused and self.in_flight <= self.transport.settings.max_in_flight // 2:
                    self.paused = False
                    self.consumer.resume_message_listener()

    async def _handle(self, message: Any) -> None:
        payload = message.data()
        try:
            await self.handler(payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - redelivered, then dead-lettered
            count = message.redelivery_count()
            if count >= self.transport.settings.max_redeliver_count:
                reason = f"handler failed {count + 1} times: {type(exc).__name__}: {exc}"
                await self.transport.dead_letter(self.topic, payload, reason)
                self.consumer.acknowledge(message)
            else:
                log.warning(
                    "redelivering a message of %s after %s: %s", self.topic, type(exc).__name__, exc
                )
                self.consumer.negative_acknowledge(message)
            return
        self.consumer.acknowledge(message)


class PulsarTransport(Transport):
    def __init__(self, settings: PulsarSettings) -> None:
        self.settings = settings
        self._client: Any = None
        self._producers: dict[tuple[str, str], Any] = {}
        self._producer_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._subscriptions: list[_Subscription] = []
        self._pending: asyncio.Semaphore | None = None
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.users = 1

    def __repr__(self) -> str:
        s = self.settings
        return f"PulsarTransport({s.broker_service_url!r}, {s.tenant}/{s.namespace})"

    async def start(self) -> None:
        if self._client is not None:
            return
        import pulsar

        self.loop = asyncio.get_running_loop()
        self._pending = asyncio.Semaphore(self.settings.max_pending_messages)
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
        tasks = {t for sub in self._subscriptions for t in sub.tasks}
        while tasks:  # a handler may swallow one cancellation: see the in-memory transport
            for task in tasks:
                task.cancel()
            _, tasks = await asyncio.wait(tasks, timeout=0.5)
        client, self._client = self._client, None
        await self.loop.run_in_executor(
            None,
            _close_client,
            client,
            list(self._producers.values()),
            [s.consumer for s in self._subscriptions],
        )
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
        mode = "delayed" if delay > 0 else "keyed" if key else "plain"
        producer = await self._producer(topic, mode)
        assert self._pending is not None
        await (
            self._pending.acquire()
        )  # at most max_pending_messages in flight: no ProducerQueueIsFull
        future: asyncio.Future[Any] = self.loop.create_future()

        def done(result: Any, message_id: Any) -> None:
            self.loop.call_soon_threadsafe(_resolve, future, result)

        kwargs: dict[str, Any] = {}
        if key:
            kwargs["partition_key"] = key
        if delay > 0:
            kwargs["deliver_after"] = timedelta(seconds=delay)
        try:
            producer.send_async(payload, done, **kwargs)
            result = await future
        finally:
            self._pending.release()
        if str(result) not in ("Ok", "Result.Ok"):
            raise PulsarTransportError(f"sending to {topic} failed: {result}")

    async def subscribe(
        self, topic: str, handler: Handler, *, keyed: bool = False, concurrency: int = 1
    ) -> None:
        import pulsar

        if self._client is None:
            raise PulsarTransportError("the pulsar transport is not started")
        sub = _Subscription(self, topic, handler, keyed, concurrency)
        s = self.settings
        exclusive = topic.startswith("response:")
        kwargs: dict[str, Any] = {
            "consumer_type": pulsar.ConsumerType.Exclusive
            if exclusive
            else pulsar.ConsumerType.KeyShared
            if keyed
            else pulsar.ConsumerType.Shared,
            "message_listener": sub.on_message,
            "receiver_queue_size": s.receiver_queue_size,
            "negative_ack_redelivery_delay_ms": int(s.negative_ack_redelivery_delay_seconds * 1000),
            "initial_position": pulsar.InitialPosition.Earliest,
        }
        if s.ack_timeout_seconds:
            kwargs["unacked_messages_timeout_ms"] = int(s.ack_timeout_seconds * 1000)
        subscription = f"{SUBSCRIPTION}-{topic}" if exclusive else SUBSCRIPTION

        def create() -> Any:
            try:
                return self._client.subscribe(s.topic(topic), subscription, **kwargs)
            except Exception as exc:  # noqa: BLE001
                raise PulsarTransportError(f"cannot subscribe to {topic}: {exc}") from None

        try:
            sub.consumer = await self.loop.run_in_executor(None, create)
        except BaseException:
            for task in sub.tasks:
                task.cancel()
            raise
        self._subscriptions.append(sub)

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
