"""A worker that starts beside a live one (a restart, a scale-out) re-drives only what stalled:
work the live worker is running is not run a second time."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from infinitic import InfiniticWorker
from infinitic.common import messages as m
from infinitic.common import workflow_messages as w
from infinitic.engines.workflow_engine import WorkflowEngine
from infinitic.engines.workflow_engine.owners import Owners
from infinitic.storage.memory import MemoryStorage
from infinitic.transport.memory import InMemoryTransport
from tests import redrive_app
from tests.faults.fault_apps import redis_storage
from tests.redrive_app import Holder, HoldWorkflow

WAIT = 30.0


def _config(name: str, transport: Any, storage: Any) -> dict[str, Any]:
    return {
        "name": name,
        "transport": transport,
        "storage": storage,
        "services": [{"name": "Holder", "class": "tests.redrive_app.HolderImpl", "concurrency": 4}],
        "workflows": [{"name": "HoldWorkflow", "class": "tests.redrive_app.HoldWorkflowImpl"}],
    }


def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _restart_beside(live_config: dict[str, Any], new_config: dict[str, Any]) -> None:
    key = f"k-{uuid.uuid4().hex[:8]}"
    live = InfiniticWorker.from_config(live_config).start()
    new: InfiniticWorker | None = None
    try:
        handle = live.client.dispatch(live.client.new_workflow(HoldWorkflow).run, key)
        _until(lambda: redrive_app.STARTED[key] == 1, "the task to start")
        new = InfiniticWorker.from_config(new_config).start()  # re-drives as it starts
        # whatever the start re-sent is consumed before probes sent after it: once the new
        # worker's executor ran a probe, it started any copy of the held task it was sent
        holder = new.client.new_service(Holder)
        new_client = id(new.client)
        _until(lambda: (holder.probe(), new_client in redrive_app.RAN_ON)[1], "a probe")
        assert redrive_app.STARTED[key] == 1, "the new worker ran the live worker's task again"
        redrive_app.release(key)
        assert handle.result(timeout=WAIT) == key
    finally:
        redrive_app.release(key)
        if new is not None:
            new.close()
        live.close()


def test_a_worker_starting_beside_a_live_one_on_sqlite_runs_none_of_its_tasks(
    tmp_path: Path,
) -> None:
    storage = {"sqlite": {"path": str(tmp_path / "shared.db")}}
    _restart_beside(
        _config("live", {"inMemory": {"channel": "live"}}, storage),
        _config("new", {"inMemory": {"channel": "new"}}, storage),
    )


@pytest.mark.pulsar
@pytest.mark.redis
def test_a_worker_starting_beside_a_live_one_on_pulsar_runs_none_of_its_tasks(
    pulsar_transport: dict[str, Any], redis_server: Any
) -> None:
    storage = redis_storage(redis_server)
    _restart_beside(
        _config("live", pulsar_transport, storage), _config("new", pulsar_transport, storage)
    )


def test_the_engine_redrives_a_workflow_once_its_owner_is_gone_or_it_stalled() -> None:
    async def scenario() -> None:
        storage = MemoryStorage()
        await storage.start()
        transport = InMemoryTransport()  # nobody consumes: we count what is sent
        await transport.start()
        sent: list[Any] = []
        original = transport.send

        async def send(topic: str, payload: bytes, **kw: Any) -> None:
            sent.append(m.decode(payload))
            await original(topic, payload, **kw)

        transport.send = send  # type: ignore[method-assign]
        live_owner, new_owner = Owners(storage), Owners(storage)
        await live_owner.beat()
        live = WorkflowEngine(transport, storage, "W", owners=live_owner)
        new = WorkflowEngine(transport, storage, "W", owners=new_owner, redrive_after_seconds=60)
        await live.handle(m.encode(w.DispatchWorkflow("d", "wf", "W", "run", b"[]")))
        sent.clear()
        assert await new.redrive() == 0 and sent == []  # its owner is alive, it just moved
        new.redrive_after_seconds = 0.0
        assert await new.redrive() == 1  # not moved for redrive_after_seconds: stalled
        assert [type(x) for x in sent] == [w.ExecuteWorkflowTask]
        new.redrive_after_seconds = 60
        sent.clear()
        assert await new.redrive() == 0  # re-driven: saved just now, by a live owner
        await new_owner.leave()
        assert await live.redrive() == 1  # the owner that saved it last is gone
        assert [type(x) for x in sent] == [w.ExecuteWorkflowTask]
        await transport.close()
        await storage.close()

    asyncio.run(scenario())
