"""Coalescing on the Pulsar subscription (a stand-in client, no broker): messages of one key
queued in a lane behind the one taken are handed to a RunHandler at once, acknowledged together
once their sends are confirmed, redelivered together when it fails, and then handled alone."""

from __future__ import annotations

import asyncio

import pytest

from infinitic.transport.base import RunHandler
from tests.pulsar.test_pipeline import FakeMessage, FakeProducer, _subscribe, _transport, _until


class Redelivered(FakeMessage):
    def redelivery_count(self) -> int:
        return 1


class Recorder:
    """A RunHandler's two sides: what each call got; the first call waits for `gate`."""

    def __init__(self, fail_runs: bool = False) -> None:
        self.calls: list[list[bytes]] = []
        self.gate = asyncio.Event()
        self.fail_runs = fail_runs
        self.handler = RunHandler(self.one, self.many)

    async def one(self, payload: bytes) -> None:
        await self.many([payload])

    async def many(self, payloads: list[bytes]) -> None:
        self.calls.append(payloads)
        await self.gate.wait()
        if self.fail_runs and len(payloads) > 1:
            raise RuntimeError("storage down")


async def _queued_messages_of_one_key_are_handed_over_as_one_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = _transport(monkeypatch, keyed_shards=1, max_coalesced=3)
    producer = FakeProducer()
    transport._producers[("out", "keyed")] = producer
    seen = Recorder()

    async def many(payloads: list[bytes]) -> None:
        await Recorder.many(seen, payloads)
        await transport.send("out", b"+".join(payloads), key="k")

    seen.handler = RunHandler(lambda p: many([p]), many)
    sub = _subscribe(transport, "in", seen.handler)
    sub.deliver([FakeMessage(b"1", "k")])
    await _until(lambda: seen.calls == [[b"1"]])  # busy with it: the next ones queue
    for payload, key in ((b"2", "k"), (b"3", "k"), (b"4", "k"), (b"5", "k"), (b"6", "j")):
        sub.deliver([FakeMessage(payload, key)])
    await asyncio.sleep(0)  # the listener's hand-over to the loop
    seen.gate.set()
    # at most 3 a run, and a run ends at another key (which the same lane holds)
    await _until(lambda: len(seen.calls) == 4)
    assert seen.calls == [[b"1"], [b"2", b"3", b"4"], [b"5"], [b"6"]]
    assert producer.sent == [b"1", b"2+3+4", b"5", b"6"]
    assert sub.consumer.acked == []
    producer.confirm()
    producer.confirm()  # the run's one send: its three messages are acknowledged, together
    await _until(lambda: sub.consumer.acked == [b"1", b"2", b"3", b"4"])
    assert sub.in_flight == 2
    producer.confirm()
    producer.confirm()
    await _until(lambda: sub.in_flight == 0)
    await transport.close()


def test_queued_messages_of_one_key_are_handed_over_as_one_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asyncio.run(_queued_messages_of_one_key_are_handed_over_as_one_run(monkeypatch))


async def _a_failed_run_is_redelivered_whole_and_then_handled_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = _transport(monkeypatch, keyed_shards=1)
    seen = Recorder(fail_runs=True)
    sub = _subscribe(transport, "in", seen.handler)
    sub.deliver([FakeMessage(b"1", "k")])
    await _until(lambda: seen.calls == [[b"1"]])
    sub.deliver([FakeMessage(b"2", "k")])
    sub.deliver([FakeMessage(b"3", "k")])
    await asyncio.sleep(0)
    seen.gate.set()
    await _until(lambda: sub.consumer.nacked == [b"2", b"3"])
    assert sub.consumer.acked == [b"1"] and sub.in_flight == 0
    # as the broker redelivers them: one at a time, so one bad message fails by itself
    sub.deliver([Redelivered(b"2", "k")])
    sub.deliver([Redelivered(b"3", "k")])
    await _until(lambda: sub.consumer.acked == [b"1", b"2", b"3"])
    assert seen.calls == [[b"1"], [b"2", b"3"], [b"2"], [b"3"]]
    await transport.close()


def test_a_failed_run_is_redelivered_whole_and_then_handled_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asyncio.run(_a_failed_run_is_redelivered_whole_and_then_handled_alone(monkeypatch))


async def _a_plain_handler_gets_one_message_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = _transport(monkeypatch, keyed_shards=1)
    seen = Recorder()
    sub = _subscribe(transport, "in", seen.one)  # not a RunHandler
    for payload in (b"1", b"2", b"3"):
        sub.deliver([FakeMessage(payload, "k")])
    seen.gate.set()
    await _until(lambda: sub.consumer.acked == [b"1", b"2", b"3"])
    assert seen.calls == [[b"1"], [b"2"], [b"3"]]
    await transport.close()


def test_a_plain_handler_gets_one_message_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_a_plain_handler_gets_one_message_at_a_time(monkeypatch))
