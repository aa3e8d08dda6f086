"""The engine's outbox: what a step sends is saved with its state and sent after the save; an
outbox left behind by an engine that died in between is sent by the next one, once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from infinitic.common import messages as m
from infinitic.common import workflow_messages as w
from infinitic.engines.workflow_engine import WorkflowEngine, stored
from infinitic.engines.workflow_engine.engine import state_key
from infinitic.engines.workflow_engine.owners import Owners
from infinitic.storage.base import Storage
from infinitic.storage.memory import MemoryStorage
from infinitic.storage.sqlite import SqliteStorage
from infinitic.transport.memory import InMemoryTransport
from tests.helpers.engine_messages import fan_out, task_done


class Crash(Exception):
    """The process died between its save and its sends."""


class Recording(InMemoryTransport):
    """Records what is sent; `crash` makes the next sends die instead."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Any] = []
        self.crash = False

    async def send(self, topic: str, payload: bytes, **kw: Any) -> None:  # type: ignore[override]
        if self.crash:
            raise Crash()
        self.sent.append(m.decode(payload))
        await super().send(topic, payload, **kw)


def _storage(backend: str, tmp_path: Path) -> Storage:
    return MemoryStorage() if backend == "memory" else SqliteStorage(str(tmp_path / "o.db"))


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_an_outbox_left_by_a_crash_is_sent_by_the_next_handling(
    backend: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        storage = _storage(backend, tmp_path)
        await storage.start()
        transport = Recording()
        await transport.start()
        dead, heir = (
            WorkflowEngine(transport, storage, "W"),
            WorkflowEngine(transport, storage, "W"),
        )
        await dead.handle(m.encode(w.DispatchWorkflow("d", "wf", "W", "run", b"[]")))
        loaded = await stored.load(storage, state_key("W", "wf"))
        assert loaded is not None and loaded[0].running_task_id is not None
        transport.crash = True
        with pytest.raises(Crash):  # saved, then died before sending
            await dead.handle(fan_out(loaded[0].running_task_id, 3))
        transport.crash = False
        transport.sent.clear()
        saved = await stored.load(storage, state_key("W", "wf"))
        assert saved is not None and len(saved[2].outbox) == 3  # the three tasks, owed
        await heir.handle(task_done(1, output=b"1"))
        # sent by the next engine: what is still awaited, not c1 whose result just came
        assert sorted(x.task_id for x in transport.sent) == ["c0", "c2"]
        transport.sent.clear()
        await heir.handle(
            task_done(0, output=b"1")
        )  # from its cache: its outbox went out, nothing is owed
        assert transport.sent == []
        fresh = WorkflowEngine(transport, storage, "W")  # another engine, no cache
        await fresh.handle(task_done(2, output=b"1"))
        # the heir's save cleared the outbox: only what this step decides goes out
        assert [type(x) for x in transport.sent] == [w.ExecuteWorkflowTask]
        await transport.close()
        await storage.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_an_outbox_left_by_a_dead_worker_is_sent_by_the_next_start(
    backend: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        storage = _storage(backend, tmp_path)
        await storage.start()
        transport = Recording()
        await transport.start()
        dead_owner = Owners(storage)
        await dead_owner.beat()
        dead = WorkflowEngine(transport, storage, "W", owners=dead_owner)
        await dead.handle(m.encode(w.DispatchWorkflow("d", "wf", "W", "run", b"[]")))
        loaded = await stored.load(storage, state_key("W", "wf"))
        assert loaded is not None and loaded[0].running_task_id is not None
        transport.crash = True
        with pytest.raises(Crash):
            await dead.handle(fan_out(loaded[0].running_task_id, 3))
        transport.crash = False
        transport.sent.clear()
        restarted = WorkflowEngine(transport, storage, "W")
        assert await restarted.redrive() == 0  # its owner's key has not expired yet
        await dead_owner.leave()  # expired (or removed by a clean close)
        assert await restarted.redrive() == 1
        assert sorted(x.task_id for x in transport.sent) == ["c0", "c1", "c2"]
        await transport.close()
        await storage.close()

    asyncio.run(scenario())


def test_a_late_copy_of_a_start_after_the_retention_starts_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        now = [time.time()]
        storage = MemoryStorage(clock=lambda: now[0])
        await storage.start()
        transport = Recording()
        await transport.start()
        engine = WorkflowEngine(transport, storage, "W", retention_seconds=10, cache_size=0)
        # sent two hours ago by the engine's clock (it sat behind a backlog)
        start = w.DispatchWorkflow(
            "d", "wf", "W", "run", b"[]", reply_to="client", emitted_at=time.time() - 7200
        )
        await engine.handle(m.encode(start))
        loaded = await stored.load(storage, state_key("W", "wf"))
        assert loaded is not None and loaded[0].running_task_id is not None
        done = w.WorkflowTaskCompleted(
            "t", "wf", "W", "wf", loaded[0].running_task_id, "completed", result=b"1"
        )
        await engine.handle(m.encode(done))
        now[0] += 3600  # the ended state expired with its retention
        assert await stored.load(storage, state_key("W", "wf")) is None
        transport.sent.clear()
        await engine.handle(m.encode(start))  # a copy redelivered an hour later
        assert await stored.load(storage, state_key("W", "wf")) is None
        assert [(type(x), x.status) for x in transport.sent] == [(w.MethodOutcome, "unknown")]
        again = w.DispatchWorkflow("d2", "wf", "W", "run", b"[]", emitted_at=time.time() - 7200)
        await engine.handle(m.encode(again))  # a new start with the same (custom) id does
        restarted = await stored.load(storage, state_key("W", "wf"))
        assert restarted is not None and restarted[0].dispatch_id == "d2"
        await transport.close()
        await storage.close()

    asyncio.run(scenario())


def test_how_an_instance_ended_is_sent_by_the_next_start_if_its_worker_died_first() -> None:
    async def scenario() -> None:
        storage = MemoryStorage()
        await storage.start()
        transport = Recording()
        await transport.start()
        dead_owner = Owners(storage)
        await dead_owner.beat()
        dead = WorkflowEngine(transport, storage, "W", owners=dead_owner)
        start = w.DispatchWorkflow("d", "wf", "W", "run", b"[]", reply_to="client")
        await dead.handle(m.encode(start))
        loaded = await stored.load(storage, state_key("W", "wf"))
        assert loaded is not None and loaded[0].running_task_id is not None
        done = w.WorkflowTaskCompleted(
            "t", "wf", "W", "wf", loaded[0].running_task_id, "completed", result=b"1"
        )
        transport.crash = True
        with pytest.raises(Crash):  # the ended state is saved, the client not told yet
            await dead.handle(m.encode(done))
        transport.crash = False
        transport.sent.clear()
        await dead_owner.leave()
        assert await WorkflowEngine(transport, storage, "W").redrive() == 0  # nothing to drive
        assert [(type(x), x.status) for x in transport.sent] == [(w.MethodOutcome, "completed")]
        await transport.close()
        await storage.close()

    asyncio.run(scenario())


async def _moved_key(storage: Storage, transport: Recording) -> tuple[Owners, WorkflowEngine]:
    """An engine of a live process (on a transport that holds keys) started `wf` and fanned it
    out to c0, c1, c2; the key then moves to another process's engine, returned."""
    first, second = Owners(storage, ttl_seconds=5), Owners(storage, ttl_seconds=5)
    first.live_owners_sent = second.live_owners_sent = True
    await first.beat()
    await second.beat()
    engine = WorkflowEngine(transport, storage, "W", owners=first)
    await engine.handle(m.encode(w.DispatchWorkflow("d", "wf", "W", "run", b"[]")))
    loaded = await stored.load(storage, state_key("W", "wf"))
    assert loaded is not None and loaded[0].running_task_id is not None
    return first, WorkflowEngine(transport, storage, "W", owners=second)


def _fan_out_of(saved: Any) -> bytes:
    return fan_out(saved[0].running_task_id, 3)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_key_moved_from_a_live_process_sends_nothing_again(backend: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = _storage(backend, tmp_path)
        await storage.start()
        transport = Recording()
        await transport.start()
        first, heir = await _moved_key(storage, transport)
        owner = WorkflowEngine(transport, storage, "W", owners=first, cache_size=0)
        await owner.handle(_fan_out_of(await stored.load(storage, state_key("W", "wf"))))
        assert sorted(x.task_id for x in transport.sent if isinstance(x, m.ExecuteTask)) == [
            "c0",
            "c1",
            "c2",
        ]
        transport.sent.clear()
        await heir.handle(
            task_done(1, output=b"1")
        )  # its writer lives and sent them: c0 and c2 run once
        assert [type(x) for x in transport.sent] == []
        await transport.close()
        await storage.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("how", ["failed send", "kill -9"])
def test_a_key_moved_after_a_save_its_process_did_not_send_sends_it_once(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        storage = _storage("sqlite", tmp_path)
        await storage.start()
        transport = Recording()
        await transport.start()
        first, heir = await _moved_key(storage, transport)
        dead = WorkflowEngine(transport, storage, "W", owners=first)
        if how == "kill -9":

            async def nothing() -> None:  # a killed process runs no code after the save
                return None

            monkeypatch.setattr(first, "disown", nothing)
        transport.crash = True
        with pytest.raises(Crash):
            await dead.handle(_fan_out_of(await stored.load(storage, state_key("W", "wf"))))
        transport.crash = False
        transport.sent.clear()
        if how == "kill -9":
            await first.leave()  # its liveness key expired (before its transport lease)
        await heir.handle(task_done(1, output=b"1"))
        assert sorted(x.task_id for x in transport.sent) == ["c0", "c2"]
        transport.sent.clear()
        await heir.handle(
            task_done(0, output=b"1")
        )  # once: from its cache, nothing is owed any more
        assert transport.sent == []
        await transport.close()
        await storage.close()

    asyncio.run(scenario())
