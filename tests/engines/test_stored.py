"""Long method runs are stored in segments, and a save rewrites only the segments that changed
(the layout of stored.py, over the in-memory storage contract)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from infinitic.common import messages as m
from infinitic.common import workflow_messages as w
from infinitic.engines.workflow_engine import stored
from infinitic.engines.workflow_engine.context import StepContext
from infinitic.engines.workflow_engine.state_ops import complete_command
from infinitic.storage.memory import MemoryStorage

KEY = "workflow.state:W:wf"
COMMANDS = 2 * stored.SEGMENT + 44  # three segments of commands


def _state() -> w.WorkflowState:
    commands = [w.Command(f"c{i}", i, "task", "S", "m", b"[1]") for i in range(COMMANDS)]
    steps = [
        w.Step(
            COMMANDS, "", b'["all",[' + b",".join(b'["c",%d]' % i for i in range(COMMANDS)) + b"]]"
        )
    ]
    run = w.MethodRun("wf", "run", b"[]", commands=commands, steps=steps)
    small = w.MethodRun("other", "side", b"[]", commands=[w.Command("x", 0, "timer", "", "")])
    return w.WorkflowState("wf", "W", method_runs=[run, small])


async def _save(
    storage: MemoryStorage,
    state: w.WorkflowState,
    version: int,
    layout: stored.Layout,
    changed: stored.Dirty | None = None,
) -> tuple[int, stored.Layout, list[Any]]:
    """Saves `state` with what `changed` marked (None: a state just read, nothing changed)."""
    slots = changed.slots if changed is not None else set()
    writes, layout = stored.writes(KEY, state, version, layout, slots)
    versions = await storage.put_many(writes)
    return versions[0], layout, writes


def test_a_save_rewrites_the_head_and_the_changed_segment_only() -> None:
    async def scenario() -> None:
        storage = MemoryStorage()
        await storage.start()
        state = _state()
        version, layout, first = await _save(storage, state, 0, stored.Layout())
        # the head, 3 segments of commands, 1 of steps; the small run stays in the head
        assert len(first) == 5 and all(expected == 0 for _, _, expected in first)
        head = m.decode(first[0][1])
        assert isinstance(head, w.SavedState) and head.state.method_runs[0].commands == []
        assert head.state.method_runs[1].commands == state.method_runs[1].commands

        run = state.method_runs[0]
        out = StepContext()
        command = out.find_command(run, f"c{stored.SEGMENT + 3}")
        assert command is not None
        complete_command(out, state, command, "completed", b"2")
        version, layout, second = await _save(storage, state, version, layout, out.dirty)
        written = [(key.rsplit("#", 1)[-1], value is None) for key, value, _ in second[1:]]
        assert written == [("0c1.2", False), ("0c1.1", True)]  # the new segment, the old deleted

        loaded = await stored.load(storage, KEY)
        assert loaded is not None
        assert loaded[0] == state and loaded[1] == version == 2
        assert loaded[2].keys == layout.keys

        # a state whose changes are not known is written whole; old segments are all deleted
        out = StepContext()
        out.state_changed()
        _, _, third = await _save(storage, state, version, layout, out.dirty)
        assert sum(value is None for _, value, _ in third) == 4
        assert sum(value is not None for _, value, _ in third) == 5
        assert len(await storage.get_many([k for k, _, _ in third])) == 5
        await storage.close()

    asyncio.run(scenario())


def test_a_small_state_is_one_record() -> None:
    state = w.WorkflowState("wf", "W", method_runs=[w.MethodRun("wf", "run", b"[]")])
    writes, layout = stored.writes(KEY, state, 3, stored.Layout(), None)
    assert writes == [(KEY, m.encode(w.SavedState(state)), 3)] and layout.keys == {}


def test_heads_written_before_the_outbox_are_read_with_an_empty_one() -> None:
    async def scenario() -> None:
        storage = MemoryStorage()
        await storage.start()
        state = w.WorkflowState("wf", "W", method_runs=[w.MethodRun("wf", "run", b"[]")])
        for old in (state, w.StoredState(state, [])):
            found = await storage.get(KEY)
            await storage.put(KEY, m.encode(old), found[1] if found else 0)
            loaded = await stored.load(storage, KEY)
            assert loaded is not None and loaded[0] == state
            assert loaded[2].outbox == [] and loaded[2].owner == ""
        await storage.close()

    asyncio.run(scenario())


def test_a_segment_that_is_gone_is_a_clear_error() -> None:
    async def scenario() -> None:
        storage = MemoryStorage()
        await storage.start()
        version, layout, _ = await _save(storage, _state(), 0, stored.Layout())
        lost = sorted(layout.keys.values())[0]
        await storage.put(lost, None, 1)
        with pytest.raises(Exception, match="misses 1 of its segments"):
            await stored.load(storage, KEY)
        await storage.close()

    asyncio.run(scenario())
