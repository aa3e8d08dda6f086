"""What infinitic logs: nothing unless configured, progress at DEBUG with the ids, and a task
failure the workflow handles at INFO, not WARNING."""

from __future__ import annotations

import logging
import time

import pytest

from infinitic import WorkflowFailedError
from tests import sample_workflows as sw
from tests.helpers import workflow_worker

WAIT = 30


def test_the_library_logger_has_a_null_handler() -> None:
    import infinitic

    handlers = logging.getLogger(infinitic.__name__).handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_progress_is_logged_at_debug_with_workflow_and_task_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with workflow_worker() as worker, caplog.at_level(logging.DEBUG, logger="infinitic"):
        handle = worker.client.dispatch(worker.client.new_workflow(sw.BasicWorkflow).sequential, 2)
        assert handle.result(timeout=WAIT) == 1
        info = worker.client.describe_workflow(sw.BasicWorkflow, handle.id)
    assert info is not None
    task_ids = [c.id for c in info.method_runs[0].commands]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    mine = [line for line in debug if handle.id in line]
    # each workflow task, each dispatch and each outcome names the workflow and the task
    assert any("workflow task" in line and "completed" in line for line in mine), mine
    for task_id in task_ids:
        assert any("sent ExecuteTask Math.add task " + task_id in line for line in mine)
        assert any("handled TaskCompleted Math.add task " + task_id in line for line in mine)
        assert any(f"task Math.add {task_id} completed" in line for line in debug)


def test_a_failure_the_workflow_handles_is_info_and_an_unhandled_one_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with workflow_worker() as worker, caplog.at_level(logging.INFO, logger="infinitic"):
        caught = worker.client.dispatch(worker.client.new_workflow(sw.BasicWorkflow).catching)
        assert caught.result(timeout=WAIT).startswith("caught")
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings == [], [r.getMessage() for r in warnings]
        assert any(
            r.levelno == logging.INFO
            and "Math.fail" in r.getMessage()
            and caught.id in r.getMessage()
            for r in caplog.records
        )
        failed = worker.client.dispatch(worker.client.new_workflow(sw.BasicWorkflow).failing)
        with pytest.raises(WorkflowFailedError):
            failed.result(timeout=WAIT)

        def warned() -> list[str]:
            return [
                r.getMessage()
                for r in caplog.records
                if r.levelno == logging.WARNING and failed.id in r.getMessage()
            ]

        deadline = time.monotonic() + WAIT  # logged once the failed state is saved
        while not warned() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(warned()) == 1
    assert f"workflow Basic {failed.id} failed" in warned()[0]
    assert "kept until canceled or retried" in warned()[0]
