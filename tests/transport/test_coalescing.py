"""Coalescing on the in-memory transport: messages of one key queued behind the one taken are
handed to a RunHandler at once; a run that fails is delivered again one message at a time."""

from __future__ import annotations

import asyncio

from infinitic.transport.base import RunHandler
from infinitic.transport.memory import InMemoryTransport
from tests.helpers.waiting import until as _until


def test_queued_messages_of_one_key_are_one_run_and_a_failed_run_comes_back_alone() -> None:
    async def scenario() -> None:
        transport = InMemoryTransport(redelivery_delay=0.01)
        await transport.start()
        calls: list[list[bytes]] = []
        gate = asyncio.Event()

        async def many(payloads: list[bytes]) -> None:
            calls.append(payloads)
            await gate.wait()
            if b"bad" in payloads and len(payloads) > 1:
                raise RuntimeError("one of them is bad")

        await transport.subscribe("t", RunHandler(lambda p: many([p]), many), keyed=True)
        await transport.send("t", b"1", key="k")
        await _until(lambda: calls == [[b"1"]])
        for payload, key in ((b"2", "k"), (b"3", "k"), (b"4", "j"), (b"5", "k"), (b"bad", "k")):
            await transport.send("t", payload, key=key)
        gate.set()
        await _until(lambda: transport.pending() == 0)
        assert calls == [[b"1"], [b"2", b"3"], [b"4"], [b"5", b"bad"], [b"5"], [b"bad"]]
        assert transport.dead_letters == []
        await transport.close()

    asyncio.run(scenario())
