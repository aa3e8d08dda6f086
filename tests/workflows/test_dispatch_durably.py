"""client.dispatch_durably returns once the start is stored: a crash after it cannot lose it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from infinitic import InfiniticWorker
from infinitic.engines.workflow_engine import stored
from infinitic.engines.workflow_engine.engine import state_key
from infinitic.storage.sqlite import SqliteStorage
from tests import redrive_app
from tests.redrive_app import Holder, HoldWorkflow
from tests.workflows.test_redrive import _config


def _stored_status(path: Path, workflow_id: str) -> str | None:
    async def read() -> str | None:
        storage = SqliteStorage(str(path))
        await storage.start()
        try:
            loaded = await stored.load(storage, state_key("HoldWorkflow", workflow_id))
            return loaded[0].status if loaded is not None else None
        finally:
            await storage.close()

    return asyncio.run(read())


def test_dispatch_durably_returns_once_the_start_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    config = _config(
        "durable", {"inMemory": {"channel": "durable"}}, {"sqlite": {"path": str(path)}}
    )
    key = f"k-{uuid.uuid4().hex[:8]}"
    with InfiniticWorker.from_config(config) as worker:
        client = worker.client
        try:
            handle = client.dispatch_durably(client.new_workflow(HoldWorkflow).run, key)
            assert _stored_status(path, handle.id) == "running"  # read by another connection
            redrive_app.release(key)
            assert handle.result(timeout=30) == key
        finally:
            redrive_app.release(key)
        with pytest.raises(TypeError, match="dispatch_durably starts a workflow"):
            client.dispatch_durably(client.new_service(Holder).probe)
