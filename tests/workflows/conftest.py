from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infinitic import InfiniticWorker
from tests import sample_workflows
from tests.helpers import workflow_worker
from tests.workflow_probe import probe_for

# (transport, storage): the embedded default on both storages, and a real Pulsar broker with
# in-memory state (one worker: shared state across workers needs Redis or MySQL)
SETUPS = [
    pytest.param(("inMemory", "inMemory"), id="inMemory"),
    pytest.param(("inMemory", "sqlite"), id="sqlite"),
    pytest.param(("sqlite", "sqlite"), id="sqlite-transport"),  # messages in the state's file
    pytest.param(("pulsar", "inMemory"), id="pulsar", marks=pytest.mark.pulsar),
    pytest.param(("inMemory", "redis"), id="redis", marks=pytest.mark.redis),
    pytest.param(("inMemory", "mysql"), id="mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=SETUPS)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, Any]:
    transport, storage = request.param
    if transport == "pulsar":
        transport = request.getfixturevalue("pulsar_transport")
    if storage == "sqlite":
        storage = {"sqlite": {"path": str(tmp_path / "state.db")}}
    if transport == "sqlite":
        transport = {"sqlite": {"path": str(tmp_path / "state.db")}}
    elif storage == "redis":
        server = request.getfixturevalue("redis_server")
        options = {k: v for k, v in server.storage_options().items() if v is not None}
        storage = {"redis": {**options, "keyPrefix": f"t{uuid.uuid4().hex[:8]}:"}}
    elif storage == "mysql":
        storage = {"mysql": request.getfixturevalue("mysql_endpoint").options()}
    return transport, storage


@pytest.fixture
def worker(setup: tuple[Any, Any]) -> Iterator[InfiniticWorker]:
    sample_workflows.GATES.clear()
    transport, storage = setup
    with workflow_worker(storage, transport=transport) as running:
        probe_for(running)  # records states from the start, so no wait misses one
        yield running
