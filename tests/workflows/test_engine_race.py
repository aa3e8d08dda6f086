"""Two engines handling the same workflow (as when a key moves between workers): the
compare-and-set catches the stale one, which applies its message again; no write is lost."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from infinitic.common import messages as m
from infinitic.common import workflow_messages as w
from infinitic.engines.workflow_engine import WorkflowEngine
from infinitic.engines.workflow_engine.engine import state_key
from infinitic.storage.memory import MemoryStorage
from infinitic.storage.sqlite import SqliteStorage
from infinitic.transport.memory import InMemoryTransport


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_two_engines_race_on_one_workflow_and_lose_nothing(backend: str, tmp_path: object) -> None:
    async def scenario() -> w.WorkflowState:
        storage = MemoryStorage() if backend == "memory" else SqliteStorage(f"{tmp_path}/race.db")
        await storage.start()
        transport = InMemoryTransport()  # nobody consumes: we only look at the state
        await transport.start()
        first, second = (WorkflowEngine(transport, storage, "Race") for _ in range(2))
        await first.handle(m.encode(w.DispatchWorkflow("d", "wf", "Race", "run", b"[]")))
        stored = await storage.get(state_key("Race", "wf"))
        assert stored is not None
        state = m.decode(stored[0])
        assert isinstance(state, w.WorkflowState) and state.running_task_id
        commands = [w.Command(f"c{i}", i, "task", "S", "m", b"[]") for i in range(3)]
        tree = ["all", [["c", i] for i in range(3)]]
        await first.handle(
            m.encode(
                w.WorkflowTaskCompleted(
                    "t",
                    "wf",
                    "Race",
                    "wf",
                    state.running_task_id,
                    "waiting",
                    commands,
                    [w.Step(3, "all(c0,c1,c2)", orjson.dumps(tree))],
                    b"{}",
                )
            )
        )
        done = [
            m.encode(
                m.TaskCompleted(
                    f"r{i}",
                    f"c{i}",
                    "S",
                    "m",
                    b"1",
                    workflow_id="wf",
                    workflow_name="Race",
                    method_run_id="wf",
                )
            )
            for i in range(3)
        ]
        await second.handle(done[0])  # the second engine caches the state it saved
        await first.handle(done[1])  # the first one moves it on (its own cache is stale too)
        await second.handle(done[2])  # stale cache: the CAS fails, it reloads and applies again
        stored = await storage.get(state_key("Race", "wf"))
        assert stored is not None
        final = m.decode(stored[0])
        await transport.close()
        await storage.close()
        assert isinstance(final, w.WorkflowState)
        return final

    final = asyncio.run(scenario())
    run = final.method_runs[0]
    assert [c.status for c in run.commands] == ["completed"] * 3
    assert len({c.completed_at for c in run.commands}) == 3  # three distinct events, none lost
    assert final.running_task_id is not None  # the step is decided: the next workflow task left
