"""The embedded default keeps every workflow across a stop, a restart and a kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import sample_workflows as sw
from tests.helpers import workflow_worker
from tests.workflow_probe import probe_for, wait_until_waiting, waits_on_timer

ROOT = Path(__file__).resolve().parents[2]


def sqlite(tmp_path: Path) -> dict[str, dict[str, str]]:
    return {"sqlite": {"path": str(tmp_path / "state.db")}}


# the same workflow with a sync method and with an `async def` one (replayed after the restart)
@pytest.mark.parametrize(
    "durable", [sw.DurableWorkflow, sw.AsyncDurableWorkflow], ids=["sync", "async"]
)
def test_restart_rearms_timers_and_keeps_state(tmp_path: Path, durable: type) -> None:
    with workflow_worker(sqlite(tmp_path)) as worker:
        probe_for(worker)
        client = worker.client
        handle = client.dispatch(client.new_workflow(durable).run, 10, 0.5)
        stub = client.get_workflow_by_id(durable, handle.id)
        wait_until_waiting(worker, stub, waits_on_timer)
    # stopped with the timer pending: the delayed message died with the process
    with workflow_worker(sqlite(tmp_path)) as worker:
        client = worker.client
        assert client.wait(client.get_workflow_by_id(durable, handle.id), timeout=30) == 13


def test_result_kept_after_restart_within_retention(tmp_path: Path) -> None:
    with workflow_worker(sqlite(tmp_path)) as worker:
        workflow_id = worker.client.dispatch(
            worker.client.new_workflow(sw.DurableWorkflow).run, 1, 0.01
        )
        assert workflow_id.result(timeout=30) == 4
    with workflow_worker(sqlite(tmp_path)) as worker:
        stub = worker.client.get_workflow_by_id(sw.DurableWorkflow, workflow_id.id)
        assert worker.client.wait(stub, timeout=30) == 4


def test_retention_expiry_forgets_the_workflow(tmp_path: Path) -> None:
    from infinitic import UnknownWorkflowError

    now = [time.time()]
    with workflow_worker(sqlite(tmp_path), clock=lambda: now[0], retentionSeconds=60) as worker:
        client = worker.client
        handle = client.dispatch(client.new_workflow(sw.DurableWorkflow).run, 1, 0.01)
        assert handle.result(timeout=30) == 4
        stub = client.get_workflow_by_id(sw.DurableWorkflow, handle.id)
        assert client.wait(stub, timeout=30) == 4  # within the retention
        now[0] += 61
        with pytest.raises(UnknownWorkflowError):
            client.wait(stub, timeout=30)


@pytest.mark.slow
def test_kill_9_mid_run_then_restart_completes_everything(tmp_path: Path) -> None:
    ids_file, db = tmp_path / "ids.json", str(tmp_path / "state.db")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    app = [sys.executable, "-m", "tests.durability_app"]
    proc = subprocess.Popen(
        [*app, "start", "200", str(ids_file), db],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    with proc.stdout:
        assert proc.stdout.readline().strip() == "started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    done = subprocess.run(
        [*app, "finish", str(ids_file), db],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results == [i + 3 for i in range(200)]
