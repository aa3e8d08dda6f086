"""The pipelined Pulsar subscription, on a stand-in for the client (no broker): a message is
acknowledged once its handler returned AND its sends are confirmed; a failed send is sent
again, never dropped; a workflow task is handed over in process when this transport consumes
its topic."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from infinitic.errors import ConfigError
from infinitic.transport.pulsar import transport as pt
from infinitic.transport.pulsar.calls import Calls, Inbox
from infinitic.transport.pulsar.settings import PulsarSettings
from infinitic.transport.pulsar.subscription import Subscription
from tests.helpers.waiting import until as _until


class FakeMessage:
    def __init__(self, payload: bytes, key: str = "k") -> None:
        self.payload, self.key = payload, key

    def data(self) -> bytes:
        return self.payload

    def partition_key(self) -> str:
        return self.key

    def redelivery_count(self) -> int:
        return 0


class FakeConsumer:
    def __init__(self) -> None:
        self.acked: list[bytes] = []
        self.nacked: list[bytes] = []

    def acknowledge(self, message: FakeMessage) -> None:
        self.acked.append(message.payload)

    def negative_acknowledge(self, message: FakeMessage) -> None:
        self.nacked.append(message.payload)

    def close(self) -> None: ...


class FakeClient:
    def close(self) -> None: ...


class FakeProducer:
    """Receipts are released by the test: `confirm(result)` answers the oldest send."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.options: list[dict[str, Any]] = []
        self.waiting: list[Callable[[Any, Any], None]] = []

    def send_async(
        self, payload: bytes, callback: Callable[[Any, Any], None], **options: Any
    ) -> None:
        self.sent.append(payload)
        self.options.append(options)
        self.waiting.append(callback)

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def confirm(self, result: str = "Ok") -> None:
        self.waiting.pop(0)(result, None)


def _transport(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> pt.PulsarTransport:
    transport = pt.PulsarTransport(PulsarSettings("pulsar://127.0.0.1:1", **settings))
    transport.loop = asyncio.get_running_loop()
    transport._client = FakeClient()  # started, as far as sending goes
    transport._pending = asyncio.Semaphore(100)
    transport._receipts = Inbox(transport.loop, transport._receipt)
    transport.calls = Calls(transport.loop, "sends")
    transport.acks = Calls(transport.loop, "acks")
    monkeypatch.setattr(pt, "RETRY_BACKOFF_S", (0.01,))
    return transport


def _subscribe(
    transport: pt.PulsarTransport, topic: str, handler: Any, keyed: bool = True
) -> Subscription:
    sub = Subscription(transport, topic, handler, keyed, 1)
    sub.consumer = FakeConsumer()
    transport._subscriptions.append(sub)
    return sub


async def _acknowledged_once_saved_and_sent_and_a_failed_send_is_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = _transport(monkeypatch)
    producer = FakeProducer()
    transport._producers[("out", "keyed")] = producer
    handled: list[bytes] = []

    async def handler(payload: bytes) -> None:
        await transport.send("out", b"from-" + payload, key="k")
        handled.append(payload)

    sub = _subscribe(transport, "in", handler)
    sub.deliver([FakeMessage(b"1")])
    sub.deliver([FakeMessage(b"2")])
    # the shard went on to the second message before the first one's send was confirmed
    await _until(lambda: handled == [b"1", b"2"])
    assert sub.consumer.acked == []
    producer.confirm("Timeout")  # the first one's send failed: sent again, not acknowledged
    await _until(lambda: producer.sent == [b"from-1", b"from-2", b"from-1"])
    producer.confirm()  # the second one's
    await _until(lambda: sub.consumer.acked == [b"2"])
    producer.confirm()  # the first one's, sent again
    await _until(lambda: sub.consumer.acked == [b"2", b"1"])
    assert sub.consumer.nacked == []
    await transport.close()


async def _not_pipelined_waits_for_each_send(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = _transport(monkeypatch, pipelined=False)
    producer = FakeProducer()
    transport._producers[("out", "keyed")] = producer
    handled: list[bytes] = []

    async def handler(payload: bytes) -> None:
        await transport.send("out", payload, key="k")
        handled.append(payload)

    sub = _subscribe(transport, "in", handler)
    sub.deliver([FakeMessage(b"1")])
    sub.deliver([FakeMessage(b"2")])
    await _until(lambda: len(producer.waiting) == 1)
    await asyncio.sleep(0.05)
    assert handled == [] and producer.sent == [b"1"]
    producer.confirm()
    await _until(lambda: handled == [b"1"] and len(producer.waiting) == 1)
    producer.confirm()
    await _until(lambda: sub.consumer.acked == [b"1", b"2"])
    await transport.close()


async def _a_workflow_task_and_its_result_are_handed_over_in_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = _transport(monkeypatch)
    to_engine, to_tasks = FakeProducer(), FakeProducer()
    transport._producers[("workflow-engine:W", "keyed")] = to_engine
    transport._producers[("task-executor:S", "plain")] = to_tasks
    ran: list[bytes] = []
    handled: list[bytes] = []

    async def engine(payload: bytes) -> None:
        handled.append(payload)
        if payload == b"start":
            await transport.send("workflow-task-executor:W", b"task", key="id")
        else:
            await transport.send("task-executor:S", b"next-task")

    async def executor(payload: bytes) -> None:
        ran.append(payload)
        await transport.send("workflow-engine:W", b"result", key="id")

    sub = _subscribe(transport, "workflow-engine:W", engine)
    transport._local["workflow-task-executor:W"] = _subscribe(
        transport, "workflow-task-executor:W", executor
    )
    sub.deliver([FakeMessage(b"start", "id")])
    # the workflow task ran here, and its result went back to this worker's engine (which owns
    # the key "id") without the broker; what the engine sent then went through the broker
    await _until(lambda: ran == [b"task"] and to_tasks.sent == [b"next-task"])
    assert handled == [b"start", b"result"] and to_engine.sent == []
    assert sub.consumer.acked == []  # not until the chain's last send is confirmed
    to_tasks.confirm()
    await _until(lambda: sub.consumer.acked == [b"start"])
    await transport.close()


async def _a_result_for_a_key_this_worker_was_not_given_goes_through_the_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = _transport(monkeypatch)
    to_engine = FakeProducer()
    transport._producers[("workflow-engine:W", "keyed")] = to_engine
    handled: list[bytes] = []

    async def engine(payload: bytes) -> None:
        handled.append(payload)

    async def executor(payload: bytes) -> None:
        await transport.send("workflow-engine:W", b"result", key="id")

    _subscribe(transport, "workflow-engine:W", engine)
    tasks = _subscribe(transport, "workflow-task-executor:W", executor)
    transport._local["workflow-task-executor:W"] = tasks
    # a workflow task delivered by the broker: the engine's key may be another worker's
    tasks.deliver([FakeMessage(b"task", "id")])
    await _until(lambda: to_engine.sent == [b"result"])
    assert handled == []
    to_engine.confirm()
    await _until(lambda: tasks.consumer.acked == [b"task"])
    await transport.close()


class FakeReceiver:
    def __init__(self) -> None:
        self.paused = False

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def stop(self) -> None: ...

    def join(self, seconds: float) -> None: ...


async def _receiving_pauses_while_max_in_flight_messages_are_unsettled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = _transport(monkeypatch, max_in_flight=4, max_coalesced=1)
    producer = FakeProducer()
    transport._producers[("out", "keyed")] = producer

    async def handler(payload: bytes) -> None:
        await transport.send("out", payload, key="k")

    sub = _subscribe(transport, "in", handler)
    receiver = sub.receiver = FakeReceiver()  # type: ignore[assignment]
    sub.deliver([FakeMessage(str(i).encode()) for i in range(3)])
    await _until(lambda: len(producer.sent) == 3)
    assert not receiver.paused  # 3 handled, their sends not confirmed: in flight
    sub.deliver([FakeMessage(b"3")])
    await _until(lambda: receiver.paused)
    for _ in range(2):
        producer.confirm()
    await _until(lambda: sub.consumer.acked == [b"0", b"1"])
    assert not receiver.paused  # down to half of maxInFlight: receiving again
    await transport.close()


def test_receiving_pauses_while_max_in_flight_messages_are_unsettled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asyncio.run(_receiving_pauses_while_max_in_flight_messages_are_unsettled(monkeypatch))


def test_acknowledged_once_saved_and_sent_and_a_failed_send_is_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asyncio.run(_acknowledged_once_saved_and_sent_and_a_failed_send_is_sent_again(monkeypatch))


def test_not_pipelined_waits_for_each_send(monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_not_pipelined_waits_for_each_send(monkeypatch))


def test_a_workflow_task_and_its_result_are_handed_over_in_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asyncio.run(_a_workflow_task_and_its_result_are_handed_over_in_process(monkeypatch))


def test_a_result_for_a_key_this_worker_was_not_given_goes_through_the_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asyncio.run(_a_result_for_a_key_this_worker_was_not_given_goes_through_the_broker(monkeypatch))


async def _keyed_messages_carry_their_key_and_its_bucket(
    monkeypatch: pytest.MonkeyPatch, buckets: int
) -> list[dict[str, Any]]:
    transport = _transport(monkeypatch, key_buckets=buckets)
    producer = FakeProducer()
    transport._producers[("workflow-engine:W", "keyed")] = producer
    for key in ("a", "b", "a"):
        task = asyncio.ensure_future(transport.send("workflow-engine:W", b"x", key=key))
        await _until(lambda: len(producer.waiting) == 1)
        producer.confirm()
        await task
    await transport.close()
    return producer.options


def test_keyed_messages_are_routed_and_batched_by_the_bucket_of_their_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = asyncio.run(_keyed_messages_carry_their_key_and_its_bucket(monkeypatch, 64))
    assert [o["partition_key"] for o in options] == ["a", "b", "a"]
    # Key_Shared and key-based batching go by the ordering key: one key, one bucket, always
    assert [o["ordering_key"] for o in options] == [
        str(zlib.crc32(k.encode()) % 64) for k in ("a", "b", "a")
    ]
    unbucketed = asyncio.run(_keyed_messages_carry_their_key_and_its_bucket(monkeypatch, 0))
    assert unbucketed == [{"partition_key": k} for k in ("a", "b", "a")]


def test_key_buckets_are_bounded_by_the_key_shared_hash_range() -> None:
    url = "pulsar://127.0.0.1:6650"
    assert PulsarSettings.from_options({"brokerServiceUrl": url}).key_buckets == 64
    with pytest.raises(ConfigError, match="transport.pulsar.producer.keyBuckets: at most 65536"):
        PulsarSettings.from_options({"brokerServiceUrl": url, "producer": {"keyBuckets": 70_000}})
