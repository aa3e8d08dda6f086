"""checkMode strict with a relative timer: the replay after the timer goes through, on every
storage (the timer's duration is checked, not a due time computed again at each replay)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from infinitic import InfiniticWorker
from tests import redrive_app
from tests.faults.fault_apps import redis_storage
from tests.redrive_app import StrictTimerWorkflow


def _run(transport: Any, storage: Any) -> None:
    config = {
        "name": "strict",
        "transport": transport,
        "storage": storage,
        "services": [{"name": "Holder", "class": "tests.redrive_app.HolderImpl"}],
        "workflows": [
            {
                "name": "StrictTimerWorkflow",
                "class": "tests.redrive_app.StrictTimerWorkflowImpl",
                "checkMode": "strict",
            }
        ],
    }
    key = f"k-{uuid.uuid4().hex[:8]}"
    redrive_app.release(key)
    with InfiniticWorker.from_config(config) as worker:
        client = worker.client
        assert client.new_workflow(StrictTimerWorkflow).run(key) == key


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_a_strict_workflow_goes_on_after_a_relative_timer(storage: str, tmp_path: Path) -> None:
    backend = "inMemory" if storage == "memory" else {"sqlite": {"path": str(tmp_path / "s.db")}}
    _run({"inMemory": {"channel": f"strict-{storage}"}}, backend)


@pytest.mark.pulsar
@pytest.mark.redis
def test_a_strict_workflow_goes_on_after_a_relative_timer_on_pulsar_and_redis(
    pulsar_transport: dict[str, Any], redis_server: Any
) -> None:
    _run(pulsar_transport, redis_storage(redis_server))
