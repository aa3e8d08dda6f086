"""Coalescing: queued results of one workflow applied in one step (one load, one save); each
message still seen by the listeners on its own, nothing applied twice when a step fails."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from infinitic.common import messages as m
from infinitic.common import workflow_messages as w
from infinitic.engines.workflow_engine import WorkflowEngine, stored
from infinitic.storage.memory import MemoryStorage
from infinitic.storage.workflow_state import state_key
from infinitic.transport.memory import InMemoryTransport
from tests.helpers.engine_messages import fan_out as _fan_out
from tests.helpers.engine_messages import task_done as _done


class Outage(Exception):
    """The storage is down."""


class CountingStorage(MemoryStorage):
    """Counts the atomic writes (a state's save is one: `put` is a `put_many` of one); `down`
    fails the next ones."""

    def __init__(self) -> None:
        super().__init__()
        self.saves = 0
        self.down = False

    async def put_many(self, writes: Any, **kw: Any) -> list[int]:
        self._saving()
        return await super().put_many(writes, **kw)

    def _saving(self) -> None:
        if self.down:
            raise Outage()
        self.saves += 1


class Recording(InMemoryTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Any] = []

    async def send(self, topic: str, payload: bytes, **kw: Any) -> None:
        self.sent.append(m.decode(payload))


async def _fanned_out(n: int) -> tuple[WorkflowEngine, CountingStorage, Recording]:
    """An engine whose workflow `wf` waits on all of n tasks c0..c(n-1)."""
    storage = CountingStorage()
    await storage.start()
    transport = Recording()
    await transport.start()
    engine = WorkflowEngine(transport, storage, "W")
    await engine.handle(m.encode(w.DispatchWorkflow("d", "wf", "W", "run", b"[]")))
    loaded = await stored.load(storage, state_key("W", "wf"))
    assert loaded is not None and loaded[0].running_task_id is not None
    await engine.handle(_fan_out(loaded[0].running_task_id, n))
    transport.sent.clear()
    storage.saves = 0
    return engine, storage, transport


async def _commands(storage: CountingStorage) -> list[w.Command]:
    loaded = await stored.load(storage, state_key("W", "wf"))  # read back, not the cache
    assert loaded is not None
    return loaded[0].method_runs[0].commands


def test_queued_results_of_a_fan_out_are_saved_once_and_resume_it_once() -> None:
    async def scenario() -> None:
        n = 300  # more than a storage segment: the saved segments are the union of the steps'
        engine, storage, transport = await _fanned_out(n)
        tapped: list[tuple[str, list[Any]]] = []
        engine.taps.append(
            lambda msg, _state, out: tapped.append(
                (msg.message_id, [type(x.message) for x in out.sends])
            )
        )
        # a duplicate after the last one: a step of its own, on the state the first one saved
        await engine.handle_many([_done(i) for i in range(n)] + [_done(7, "again")])
        assert storage.saves == 2
        tasks = [x for x in transport.sent if type(x) is w.ExecuteWorkflowTask]
        assert len(tasks) == 1 and len(transport.sent) == 1
        run = tasks[0].method_run
        assert [(c.status, c.result) for c in run.commands] == [
            ("completed", str(i).encode()) for i in range(n)
        ]
        # each message seen on its own: what it sent, and only that
        assert tapped == [
            *[(f"r{i}", []) for i in range(n - 1)],
            (f"r{n - 1}", [w.ExecuteWorkflowTask]),
            ("again", []),
        ]
        commands = await _commands(storage)
        assert [c.status for c in commands] == ["completed"] * n
        # one event index each: no result recorded twice
        assert sorted(c.completed_at for c in commands) == list(
            range(commands[0].completed_at, commands[0].completed_at + n)
        )

    asyncio.run(scenario())


def test_a_failed_save_applies_none_of_the_run_and_its_redelivery_all_once() -> None:
    async def scenario() -> None:
        engine, storage, transport = await _fanned_out(5)
        storage.down = True
        with pytest.raises(Outage):
            await engine.handle_many([_done(i) for i in range(5)])
        assert transport.sent == []
        assert [c.status for c in await _commands(storage)] == ["ongoing"] * 5
        storage.down = False
        # redelivered: the first ones alone (as a transport redelivers), the rest together
        await engine.handle(_done(0))
        await engine.handle_many([_done(i) for i in range(1, 5)])
        tasks = [x for x in transport.sent if type(x) is w.ExecuteWorkflowTask]
        assert len(tasks) == 1
        assert [c.result for c in tasks[0].method_run.commands] == [b"0", b"1", b"2", b"3", b"4"]

    asyncio.run(scenario())


def test_a_command_in_a_run_is_applied_in_its_place() -> None:
    async def scenario() -> None:
        engine, storage, transport = await _fanned_out(4)
        cancel = m.encode(w.CancelWorkflow("x", "wf", "W"))
        await engine.handle_many([_done(0), _done(1), cancel, _done(2), _done(3)])
        commands = await _commands(storage)
        # the results before the cancel were recorded, those after it came too late
        assert [c.status for c in commands] == ["completed", "completed", "ongoing", "ongoing"]
        loaded = await stored.load(storage, state_key("W", "wf"))
        assert loaded is not None and loaded[0].status == "canceled"
        assert not [x for x in transport.sent if type(x) is w.ExecuteWorkflowTask]

    asyncio.run(scenario())


def test_results_of_a_workflow_task_still_running_are_buffered_in_one_step() -> None:
    async def scenario() -> None:
        engine, storage, transport = await _fanned_out(3)
        await engine.handle_many([_done(0), _done(1)])  # the all_of still waits for c2
        assert storage.saves == 1 and transport.sent == []
        # c2 resumes the run; 0 and 1 again (duplicates) arrive while its workflow task runs
        await engine.handle_many([_done(2), _done(0, "dup0"), _done(1, "dup1")])
        assert storage.saves == 3
        tasks = [x for x in transport.sent if type(x) is w.ExecuteWorkflowTask]
        assert len(tasks) == 1
        loaded = await stored.load(storage, state_key("W", "wf"))
        assert loaded is not None
        assert [x.message_id for x in loaded[0].buffer] == ["dup0", "dup1"]

    asyncio.run(scenario())


def test_the_events_of_a_coalesced_run_are_those_of_one_step_per_message() -> None:
    from infinitic.events.workflow_tap import WorkflowTap

    async def events(coalesced: bool) -> list[tuple[Any, ...]]:
        engine, _, _ = await _fanned_out(4)
        records: list[tuple[Any, ...]] = []
        engine.taps.append(WorkflowTap("worker", records.append, lambda _: True, None))
        signal = m.encode(w.SendSignal("s", "wf", "W", "channel", b"1"))
        messages = [
            _done(0),
            _done(1),
            signal,
            _done(1, "dup"),
            _done(2),
            _done(3),
            _done(0, "late"),
        ]
        if coalesced:
            await engine.handle_many(messages)
        else:
            for payload in messages:
                await engine.handle(payload)
        # what an event says, but its time and the random id of a message the engine built
        return [
            (kind, source, subject, event_id if "executor" not in kind else "", arg[:4])
            for kind, source, subject, event_id, _at, _, arg in records
        ]

    one_by_one = asyncio.run(events(coalesced=False))
    assert any("taskCompleted" in e[0] for e in one_by_one)
    assert any("executorDispatched" in e[0] for e in one_by_one)
    assert asyncio.run(events(coalesced=True)) == one_by_one
