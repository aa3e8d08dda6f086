from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infinitic import InfiniticWorker
from tests import sample_workflows
from tests.workflow_helpers import workflow_worker
from tests.workflow_probe import probe_for


@pytest.fixture(params=["inMemory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        return {"sqlite": {"path": str(tmp_path / "state.db")}}
    return "inMemory"


@pytest.fixture
def worker(storage: Any) -> Iterator[InfiniticWorker]:
    sample_workflows.GATES.clear()
    with workflow_worker(storage) as running:
        probe_for(running)  # records states from the start, so no wait misses one
        yield running
