"""Two engines handling the same workflow (as when a key moves between workers, or a worker
restarts beside a live one): the compare-and-set catches the stale one, which applies its
message again; no write is lost, and nothing a stale engine decided is ever sent."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from infinitic.common import messages as m
from infinitic.common import workflow_messages as w
from infinitic.engines.workflow_engine import WorkflowEngine, stored
from infinitic.engines.workflow_engine.context import StepContext
from infinitic.engines.workflow_engine.engine import state_key
from infinitic.engines.workflow_engine.process import process
from infinitic.storage import create_storage
from infinitic.storage.base import Storage
from infinitic.storage.memory import MemoryStorage
from infinitic.storage.sqlite import SqliteStorage
from infinitic.transport.base import Transport
from infinitic.transport.factory import create_transport
from infinitic.transport.memory import InMemoryTransport
from tests.faults.fault_apps import redis_storage

W = "Race"


class Sent:
    """Wraps a transport's send: every workflow task an engine sends, as decoded."""

    def __init__(self, transport: Transport) -> None:
        self.tasks: list[w.ExecuteWorkflowTask] = []
        original = transport.send

        async def send(topic: str, payload: bytes, **kw: Any) -> None:
            msg = m.decode(payload)
            if isinstance(msg, w.ExecuteWorkflowTask):
                self.tasks.append(msg)
            await original(topic, payload, **kw)

        transport.send = send  # type: ignore[method-assign]


def done(command_id: str) -> bytes:
    return m.encode(
        m.TaskCompleted(
            f"r-{command_id}",
            command_id,
            "S",
            "m",
            orjson.dumps(command_id),
            workflow_id="wf",
            workflow_name=W,
            method_run_id="wf",
        )
    )


def signal(value: int) -> bytes:
    return m.encode(w.SendSignal(f"s{value}", "wf", W, "ch", orjson.dumps(value)))


def task(i: int) -> w.Command:
    return w.Command(f"c{i}", i, "task", "S", "m", b"[]")


# (commands, the awaited step's tree, messages the first engine applies first, the message the
# second engine applies meanwhile, the message the first one then applies on its stale state)
RACES: dict[str, tuple[list[w.Command], list[Any], list[bytes], bytes, bytes]] = {
    # one engine decides any_of on c1, the stale one on c0
    "any_of": ([task(0), task(1)], ["any", [["c", 0], ["c", 1]]], [], done("c1"), done("c0")),
    # all_of(c0, c1) decided by both, on different histories (c2 came in between, or not)
    "all_of": (
        [task(0), task(1), task(2)],
        ["all", [["c", 0], ["c", 1]]],
        [done("c0")],
        done("c2"),
        done("c1"),
    ),
    # a receive decided by signal 1 for one engine, by signal 2 for the stale one
    "channel": (
        [w.Command("c0", 0, "receive", "ch", "")],
        ["r", 0, 0],
        [],
        signal(1),
        signal(2),
    ),
}


async def _saved(storage: Storage) -> w.WorkflowState:
    loaded = await stored.load(storage, state_key(W, "wf"))
    assert loaded is not None
    return loaded[0]


async def race(storage: Storage, transport: Transport, case: str) -> None:
    commands, tree, first_msgs, meanwhile, stale_msg = RACES[case]
    sent = Sent(transport)
    first, second = (WorkflowEngine(transport, storage, W) for _ in range(2))
    await first.handle(m.encode(w.DispatchWorkflow("d", "wf", W, "run", b"[]")))
    started = await _saved(storage)
    assert started.running_task_id
    await first.handle(
        m.encode(
            w.WorkflowTaskCompleted(
                "t",
                "wf",
                W,
                "wf",
                started.running_task_id,
                "waiting",
                copy.deepcopy(commands),
                [w.Step(len(commands), "s", orjson.dumps(tree))],
                b"{}",
            )
        )
    )
    for payload in first_msgs:
        await first.handle(payload)  # the first engine caches the state it saved
    before = await _saved(storage)
    sent.tasks.clear()
    await second.handle(meanwhile)  # decides the step, and saves
    await first.handle(stale_msg)  # stale cache: its CAS fails, it reloads and applies again
    final = await _saved(storage)
    run = final.method_runs[0]
    # what was sent is what was saved: the saved workflow task, carrying the saved history (the
    # stale engine, once it read the state back, may send a copy of it: the winner may have
    # died before sending; a copy has the same id, so it is a duplicate downstream)
    assert sent.tasks
    assert {(t.workflow_task_id, m.encode(t.method_run)) for t in sent.tasks} == {
        (final.running_task_id, m.encode(run))
    }
    # the result of a workflow task built from the stale history is recognized and dropped
    stale = copy.deepcopy(before)
    process(stale, m.decode(stale_msg), StepContext())
    assert stale.running_task_id is not None and stale.running_task_id != final.running_task_id
    await first.handle(
        m.encode(
            w.WorkflowTaskCompleted(
                "late", "wf", W, "wf", stale.running_task_id, "completed", result=b'"stale"'
            )
        )
    )
    after = await _saved(storage)
    assert after.running_task_id == final.running_task_id
    assert after.method_runs[0].status == "running"


def _local(backend: str, tmp_path: Path) -> Callable[[], Storage]:
    if backend == "memory":
        return MemoryStorage
    return lambda: SqliteStorage(str(tmp_path / "race.db"))


@pytest.mark.parametrize("case", sorted(RACES))
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_stale_engine_sends_nothing_and_its_history_is_dropped(
    backend: str, case: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        storage = _local(backend, tmp_path)()
        await storage.start()
        transport = InMemoryTransport()  # nobody consumes: we look at what is sent
        await transport.start()
        try:
            await race(storage, transport, case)
        finally:
            await transport.close()
            await storage.close()

    asyncio.run(scenario())


@pytest.mark.pulsar
@pytest.mark.redis
@pytest.mark.parametrize("case", sorted(RACES))
def test_a_stale_engine_sends_nothing_on_pulsar_and_redis(
    case: str, pulsar_transport: dict[str, Any], redis_server: Any
) -> None:
    async def scenario() -> None:
        storage = create_storage(redis_storage(redis_server))
        await storage.start()
        transport = create_transport("pulsar", pulsar_transport["pulsar"])
        await transport.start()
        try:
            await race(storage, transport, case)
        finally:
            await transport.close()
            await storage.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_two_engines_race_on_one_workflow_and_lose_nothing(backend: str, tmp_path: Path) -> None:
    async def scenario() -> w.WorkflowState:
        storage = _local(backend, tmp_path)()
        await storage.start()
        transport = InMemoryTransport()  # nobody consumes: we only look at the state
        await transport.start()
        first, second = (WorkflowEngine(transport, storage, W) for _ in range(2))
        await first.handle(m.encode(w.DispatchWorkflow("d", "wf", W, "run", b"[]")))
        state = await _saved(storage)
        assert state.running_task_id
        tree = ["all", [["c", i] for i in range(3)]]
        await first.handle(
            m.encode(
                w.WorkflowTaskCompleted(
                    "t",
                    "wf",
                    W,
                    "wf",
                    state.running_task_id,
                    "waiting",
                    [task(i) for i in range(3)],
                    [w.Step(3, "all(c0,c1,c2)", orjson.dumps(tree))],
                    b"{}",
                )
            )
        )
        await second.handle(done("c0"))  # the second engine caches the state it saved
        await first.handle(done("c1"))  # the first one moves it on (its own cache is stale too)
        await second.handle(done("c2"))  # stale cache: the CAS fails, it reloads and applies again
        final = await _saved(storage)
        await transport.close()
        await storage.close()
        return final

    final = asyncio.run(scenario())
    run = final.method_runs[0]
    assert [c.status for c in run.commands] == ["completed"] * 3
    assert len({c.completed_at for c in run.commands}) == 3  # three distinct events, none lost
    assert final.running_task_id is not None  # the step is decided: the next workflow task left
