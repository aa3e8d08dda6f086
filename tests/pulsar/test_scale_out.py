"""Several worker processes on the same topics; a long task does not hold the others up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from infinitic import InfiniticClient, InfiniticWorker
from tests import sample_services as s
from tests import sample_workflows as sw
from tests.workflow_helpers import SERVICES, WORKFLOWS

pytestmark = pytest.mark.pulsar
ROOT = Path(__file__).resolve().parents[2]


def _start_worker(config_file: Path, name: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "infinitic", "worker", "-c", str(config_file)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "started" in line, line
    return proc


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        finally:
            if proc.stderr is not None:
                proc.stderr.close()


@pytest.mark.slow
def test_two_then_three_worker_processes_complete_1000_workflows_once(
    pulsar_transport: dict[str, Any], tmp_path: Path
) -> None:
    config = {
        "name": "scale",
        "transport": pulsar_transport,
        "storage": {"sqlite": {"path": str(tmp_path / "shared.db")}},
        "services": SERVICES,
        "workflows": [w for w in WORKFLOWS if w["name"] == "Basic"],
    }
    config_file = tmp_path / "worker.yml"
    config_file.write_text(yaml.safe_dump(config))
    procs = [_start_worker(config_file, "w1"), _start_worker(config_file, "w2")]
    client = InfiniticClient.from_config({"name": "scale-client", "transport": pulsar_transport})
    outcomes: Counter[str] = Counter()
    original = client._on_workflow_response

    def counting(msg: Any) -> None:
        outcomes[msg.workflow_id] += 1
        original(msg)

    client._on_workflow_response = counting  # type: ignore[method-assign]
    try:
        flow = client.new_workflow(sw.BasicWorkflow)
        handles = [client.dispatch(flow.sequential, 3) for _ in range(1000)]
        results = [h.result(timeout=300) for h in handles[:300]]
        procs.append(_start_worker(config_file, "w3"))  # a third joins mid-run
        results += [h.result(timeout=300) for h in handles[300:]]
    finally:
        client.close()
        _stop(procs)
    assert results == [3] * 1000
    assert set(outcomes) == {h.id for h in handles}
    assert set(outcomes.values()) == {1}  # each completion reached the client exactly once


def test_a_long_task_does_not_hold_other_workflows(pulsar_transport: dict[str, Any]) -> None:
    s.GATE.clear()
    config = {
        "name": "long",
        "transport": pulsar_transport,
        "services": SERVICES,
        "workflows": WORKFLOWS,
    }
    with InfiniticWorker.from_config(config) as worker:
        client = worker.client
        long_task = client.dispatch(client.new_service(s.EchoService).block)
        flow = client.new_workflow(sw.BasicWorkflow)
        handles = [client.dispatch(flow.sequential, 3) for _ in range(20)]
        assert [h.result(timeout=60) for h in handles] == [3] * 20
        assert not long_task.done()  # still blocked, while the others went through
        s.GATE.set()
        assert long_task.result(timeout=60) == "released"
