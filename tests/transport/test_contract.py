"""The transport contract (transport/base.py), the same tests over every transport: in memory,
SQLite and Pulsar (skipped, saying why, when no broker is reachable; see tests/pulsar_server.py).

What engines and executors rely on: the messages of one key are handled one at a time and in
the order they were sent; a handler that raises gets its message again; a message that keeps
failing, or that cannot be decoded, ends as a dead letter with its reason; a delayed message is
not delivered before its delay."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infinitic.common import messages as m
from infinitic.transport.base import DeadLetter, RunHandler, Transport, decode_or_dead_letter
from infinitic.transport.factory import create_transport
from infinitic.transport.memory import InMemoryTransport
from infinitic.transport.sqlite import SqliteTransport
from tests.helpers.waiting import until

WAIT = 30.0
TRANSPORTS = ["memory", "sqlite", pytest.param("pulsar", marks=pytest.mark.pulsar)]


@dataclass
class Bus:
    """A transport to test, and how to read what it dead-lettered."""

    kind: str
    make: Callable[[], Transport]
    options: dict[str, Any]

    async def dead_letters(self, transport: Transport, topic: str) -> list[DeadLetter]:
        if isinstance(transport, InMemoryTransport):
            return [d for d in transport.dead_letters if d.topic == topic]
        if isinstance(transport, SqliteTransport):
            return await asyncio.to_thread(transport.read_dead_letters, topic)
        return await asyncio.to_thread(self._pulsar_dead_letters, topic)

    def _pulsar_dead_letters(self, topic: str) -> list[DeadLetter]:
        import pulsar

        o = self.options
        client = pulsar.Client(o["brokerServiceUrl"])
        try:
            consumer = client.subscribe(
                f"persistent://{o['tenant']}/{o['namespace']}/{topic}-dlq",
                f"contract-{uuid.uuid4().hex[:8]}",
                initial_position=pulsar.InitialPosition.Earliest,
            )
            found = []
            while True:
                try:
                    message = consumer.receive(timeout_millis=500)
                except pulsar.Timeout:
                    return found
                found.append(DeadLetter(topic, message.data(), message.properties()["reason"]))
        finally:
            client.close()


@pytest.fixture(params=TRANSPORTS)
def bus(request: pytest.FixtureRequest, tmp_path: Path) -> Bus:
    kind: str = request.param
    if kind == "memory":
        return Bus(kind, lambda: InMemoryTransport(max_redeliveries=2), {})
    if kind == "sqlite":
        options: dict[str, Any] = {"path": str(tmp_path / "bus.db"), "maxRedeliveries": 2}
    else:
        options = request.getfixturevalue("pulsar_transport")["pulsar"]
    return Bus(kind, lambda: create_transport(kind, options), options)


@asynccontextmanager
async def started(bus: Bus) -> AsyncIterator[Transport]:
    transport = bus.make()
    await transport.start()
    try:
        yield transport
    finally:
        await transport.close()


def _run(test: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(test(), 3 * WAIT)  # a hang fails with where it hung

    asyncio.run(bounded())


async def _dead_lettered(bus: Bus, transport: Transport, topic: str) -> list[DeadLetter]:
    deadline = time.monotonic() + WAIT
    while True:
        dead = await bus.dead_letters(transport, topic)
        if dead:
            return dead
        assert time.monotonic() < deadline, "never dead-lettered"
        await asyncio.sleep(0.05)


def _topic(role: str) -> str:
    return f"contract-{role}:{uuid.uuid4().hex[:8]}"


def test_the_messages_of_one_key_are_handled_one_at_a_time_in_order(bus: Bus) -> None:
    async def test() -> None:
        topic = _topic("keyed")
        seen: dict[str, list[int]] = defaultdict(list)
        busy: set[str] = set()
        overlaps: list[str] = []

        async def handle(payload: bytes) -> None:
            key, n = payload.decode().split(":")
            if key in busy:
                overlaps.append(key)
            busy.add(key)
            await asyncio.sleep(0.001)  # a yield, so another message of the key could run
            seen[key].append(int(n))
            busy.discard(key)

        keys = ["a", "b", "c"]
        count = 20
        async with started(bus) as transport:
            await transport.subscribe(topic, handle, keyed=True, concurrency=4)
            for n in range(count):
                for key in keys:
                    await transport.send(topic, f"{key}:{n}".encode(), key=key)
            await until(
                lambda: sum(map(len, seen.values())) >= count * len(keys), "all handled", WAIT
            )
        assert not overlaps, f"two messages of one key ran at once: {overlaps}"
        assert {k: seen[k] for k in keys} == {k: list(range(count)) for k in keys}

    _run(test)


def test_a_run_handler_gets_runs_of_one_key_in_order_and_a_failed_run_once_more(bus: Bus) -> None:
    async def test() -> None:
        topic = _topic("runs")
        calls: list[list[bytes]] = []
        seen: dict[str, list[int]] = defaultdict(list)
        gate = asyncio.Event()
        failed: list[bytes] = []  # the run that failed

        async def many(payloads: list[bytes]) -> None:
            calls.append(payloads)
            await gate.wait()  # the first call waits until all are sent: the rest queue
            items = [p.decode().split(":") for p in payloads]
            assert len({key for key, _ in items}) == 1, f"keys mixed in one run: {payloads}"
            if len(payloads) > 1 and not failed:
                failed.extend(payloads)
                raise RuntimeError("a run fails: all of it comes again")
            for key, n in items:
                seen[key].append(int(n))

        async def one(payload: bytes) -> None:
            await many([payload])

        count = 30
        async with started(bus) as transport:
            await transport.subscribe(topic, RunHandler(one, many), keyed=True, concurrency=2)
            for key in ("a", "b"):  # one key's messages one after the other: they can join
                for n in range(count):
                    await transport.send(topic, f"{key}:{n}".encode(), key=key)
            gate.set()
            await until(lambda: sum(map(len, seen.values())) >= 2 * count, "all handled", WAIT)
            assert await bus.dead_letters(transport, topic) == []
        # every message once, though a run failed and came again (later: as one message that
        # fails does, after those behind it)
        assert {k: sorted(seen[k]) for k in ("a", "b")} == {
            k: list(range(count)) for k in ("a", "b")
        }
        for key in ("a", "b"):
            retried = {int(p.decode().split(":")[1]) for p in failed if p.startswith(key.encode())}
            assert [n for n in seen[key] if n not in retried] == [
                n for n in range(count) if n not in retried
            ], "out of order"
        if bus.kind != "pulsar":  # (on a broker, whether they queue up depends on timing)
            assert failed, f"no run was formed: {calls}"

    _run(test)


def test_a_message_whose_handler_failed_is_delivered_again(bus: Bus) -> None:
    async def test() -> None:
        topic = _topic("redelivery")
        attempts: dict[bytes, int] = defaultdict(int)

        async def handle(payload: bytes) -> None:
            attempts[payload] += 1
            if attempts[payload] == 1:
                raise RuntimeError("the first attempt fails")

        async with started(bus) as transport:
            await transport.subscribe(topic, handle)
            await transport.send(topic, b"once")
            await until(lambda: attempts[b"once"] >= 2, "delivered again after a failure", WAIT)
            assert await bus.dead_letters(transport, topic) == []
        assert attempts[b"once"] == 2

    _run(test)


def test_a_message_that_keeps_failing_ends_as_a_dead_letter_with_the_error(bus: Bus) -> None:
    async def test() -> None:
        topic = _topic("failing")
        attempts = 0

        async def handle(payload: bytes) -> None:
            nonlocal attempts
            attempts += 1
            raise ValueError("always broken")

        async with started(bus) as transport:
            await transport.subscribe(topic, handle)
            await transport.send(topic, b"doomed")
            dead = await _dead_lettered(bus, transport, topic)
        assert [d.payload for d in dead] == [b"doomed"]
        assert "always broken" in dead[0].reason and "ValueError" in dead[0].reason
        assert attempts >= 2  # tried, and tried again, before giving up

    _run(test)


def test_a_malformed_message_is_dead_lettered_by_its_consumer(bus: Bus) -> None:
    async def test() -> None:
        topic = _topic("malformed")
        handled: list[Any] = []

        async with started(bus) as transport:

            async def handle(payload: bytes) -> None:
                msg = await decode_or_dead_letter(
                    transport, topic, payload, m.ExecuteTask, "task-executor"
                )
                if msg is not None:
                    handled.append(msg)

            await transport.subscribe(topic, handle)
            await transport.send(topic, b"\xffnot an envelope")
            dead = await _dead_lettered(bus, transport, topic)
        assert [d.payload for d in dead] == [b"\xffnot an envelope"]
        assert dead[0].reason.startswith("undecodable envelope")
        assert handled == []

    _run(test)


def test_a_delayed_message_is_not_delivered_before_its_delay(bus: Bus) -> None:
    async def test() -> None:
        topic = _topic("delayed")
        delay = 1.0
        arrived: dict[bytes, float] = {}

        async def handle(payload: bytes) -> None:
            arrived[payload] = time.monotonic()

        async with started(bus) as transport:
            await transport.subscribe(topic, handle)
            sent = time.monotonic()
            await transport.send(topic, b"later", delay=delay)
            await transport.send(topic, b"now")
            await until(lambda: len(arrived) == 2, "both delivered", WAIT)
        assert arrived[b"later"] - sent >= delay * 0.95  # the clocks' rounding, no more
        assert arrived[b"now"] < arrived[b"later"]

    _run(test)
