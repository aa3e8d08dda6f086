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
from tests.helpers import SERVICES, WORKFLOWS

pytestmark = pytest.mark.pulsar
ROOT = Path(__file__).resolve().parents[2]


def _start_worker(config_file: Path, procs: list[subprocess.Popen[str]]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "infinitic", "worker", "-c", str(config_file)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)  # stopped by the caller whatever happens next
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if "started" not in line:
        proc.wait(timeout=60)
        raise AssertionError(f"a worker did not start:\n{line}{proc.stderr.read()[-4000:]}")


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
        "storage": {"sqlite": {"path": str(tmp_path / "shared.db"), "busyTimeout": 30}},
        "services": SERVICES,
        "workflows": [w for w in WORKFLOWS if w["name"] == "Basic"],
    }
    config_file = tmp_path / "worker.yml"
    config_file.write_text(yaml.safe_dump(config))
    procs: list[subprocess.Popen[str]] = []
    client: InfiniticClient | None = None
    outcomes: Counter[str] = Counter()
    original: Any = None

    def counting(msg: Any) -> None:
        outcomes[msg.workflow_id] += 1
        original(msg)

    try:
        _start_worker(config_file, procs)
        _start_worker(config_file, procs)
        client = InfiniticClient.from_config(
            {"name": "scale-client", "transport": pulsar_transport}
        )
        original = client._on_workflow_response
        client._on_workflow_response = counting  # type: ignore[method-assign]
        flow = client.new_workflow(sw.BasicWorkflow)
        handles = [client.dispatch(flow.sequential, 3) for _ in range(1000)]
        results = [h.result(timeout=300) for h in handles[:300]]
        _start_worker(config_file, procs)  # a third joins mid-run
        results += [h.result(timeout=300) for h in handles[300:]]
    finally:
        if client is not None:
            client.close()
        _stop(procs)
    assert results == [3] * 1000  # each handle resolved once, with its workflow's result
    assert set(outcomes) == {h.id for h in handles}
    # Delivery is at least once: while the key ranges move to the new worker, an engine whose
    # cached state went stale sends before its save is refused, so an outcome message can
    # reach the client twice. The client resolves each handle once and drops the duplicate.
    duplicates = sum(n - 1 for n in outcomes.values())
    print(f"duplicate outcome messages dropped by the client: {duplicates}")


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
