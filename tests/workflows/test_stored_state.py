"""Long method runs stored in segments, end to end: every message reads the state back from the
storage (the layout itself: tests/engines/test_stored.py)."""

from __future__ import annotations

from typing import Any

from infinitic.engines.workflow_engine import stored
from tests import sample_workflows as sw
from tests.helpers import workflow_worker

COMMANDS = 2 * stored.SEGMENT + 44  # three segments of commands


def test_a_long_fan_out_completes_reading_its_state_back_at_every_message(
    setup: tuple[Any, Any],
) -> None:
    # no state cache: every message reads the segmented state back from the storage
    transport, storage = setup
    with workflow_worker(storage, transport=transport, stateCacheSize=0) as worker:
        flow = worker.client.new_workflow(sw.BasicWorkflow)
        assert flow.parallel(COMMANDS) == [2 * i for i in range(COMMANDS)]


def test_a_long_sequential_run_completes_reading_its_state_back_at_every_message(
    setup: tuple[Any, Any],
) -> None:
    # one step per task: each workflow task's result adds to the last segments of both lists
    transport, storage = setup
    with workflow_worker(storage, transport=transport, stateCacheSize=0) as worker:
        flow = worker.client.new_workflow(sw.BasicWorkflow)
        steps = stored.SEGMENT + 30
        assert flow.sequential(steps) == sum(range(steps))
