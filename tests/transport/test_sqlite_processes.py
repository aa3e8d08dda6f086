"""Many processes of one machine on one SQLite file, no broker: 2 worker processes and 2 client
processes run 1,000 workflows (tasks, timers, signals) while a worker is killed with kill -9
and restarted. Every result reaches the client that started the workflow, once; each task
runs once while no process dies (also when a workflow moves from one worker to the other), at
least once through the kill; no result is applied twice to a state.

Also: a second process on a state file already served by a worker on the in-memory transport
is refused at start, naming the file, the process and the fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from infinitic import InfiniticClient, InfiniticWorker
from infinitic.errors import ConfigError
from tests.faults.fault_apps import (
    RECORD_ENV,
    ROOT,
    FaultWorkflow,
    WorkerProcesses,
    audit_states,
    expected,
    fault_config,
    poll_until,
    settled_states,
    write_config,
)

COUNT = int(os.environ.get("INFINITIC_SQLITE_PROCESSES_WORKFLOWS", "1000"))


def _executions(record: Path) -> dict[str, list[int]]:
    """Task id -> pids of the processes that ran it, from the service's record file."""
    runs: dict[str, list[int]] = {}
    if record.exists():
        for line in record.read_text().splitlines():
            if line.strip():
                task_id, _retry, _sequence, pid, _step = line.split()
                runs.setdefault(task_id, []).append(int(pid))
    return runs


def _client(config: Path, first: int, count: int, log: Path) -> subprocess.Popen[str]:
    with log.open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.transport.sqlite_client_app", str(config)]
            + [str(first), str(count)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )


@pytest.mark.slow
def test_two_workers_and_two_clients_share_one_file_through_a_kill_9(tmp_path: Path) -> None:
    db = str(tmp_path / "infinitic.db")
    storage = {"sqlite": {"path": db}}
    # a lease long enough that a process starved by a loaded machine keeps its claims (a lapsed
    # lease hands a task to the other worker: at least once, but then this test counts it twice)
    transport = {"sqlite": {"path": db, "leaseSeconds": 6}}
    config = write_config(tmp_path / "infinitic.yml", fault_config(transport, storage))
    record = tmp_path / "executions.txt"
    workers = WorkerProcesses(config, tmp_path, env={RECORD_ENV: str(record)})
    clients: list[subprocess.Popen[str]] = []
    try:
        first, second = workers.start(), workers.start()
        half = COUNT // 2
        clients = [
            _client(config, 0, half, tmp_path / "client-a.log"),
            _client(config, half, COUNT - half, tmp_path / "client-b.log"),
        ]

        # a worker dies mid-run, with tasks, timers and signals of both clients pending, once
        # both workers have run tasks (on a loaded machine the second may only get its first
        # claim after the first worker ran hundreds)
        def going() -> bool:
            runs = _executions(record)
            pids = {pid for task_pids in runs.values() for pid in task_pids}
            return len(runs) >= COUNT // 2 and pids == {first.pid, second.pid}

        poll_until(going, 240, "the workflows did not get going on both workers")
        before_kill = _executions(record)
        assert len(before_kill) < 3 * COUNT, "every task ran before the kill"
        workers.kill(first)
        workers.start()
        outputs = [c.communicate(timeout=300)[0] for c in clients]
        codes = [c.returncode for c in clients]
        assert codes == [0, 0], [(tmp_path / f"client-{n}.log").read_text()[-3000:] for n in "ab"]
        reports: list[dict[str, Any]] = [json.loads(o.strip().splitlines()[-1]) for o in outputs]
        ids = [i for r in reports for i in r["ids"]]
        states = settled_states(storage, "FaultWorkflow", ids)
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait()
        workers.stop_all()
    for report in reports:  # each client got the results of its own workflows, each once
        assert report["results"] == [expected(i) for i in report["values"]]
        assert set(report["delivered"]) == {1}
    audit = audit_states(states)
    assert audit.problems() == []
    runs = _executions(record)
    assert audit.task_commands == 3 * COUNT and len(runs) == 3 * COUNT
    # until the kill, each task ran once, although workflows' keys moved between the two
    # workers all along: the engine that reads a state saved by a live process sends nothing
    # of its outbox again (that process sent it). After the kill, the killed process's
    # unconfirmed tasks run again.
    twice = {task: pids for task, pids in before_kill.items() if len(pids) > 1}
    assert twice == {}
    by_pid = Counter(pid for pids in before_kill.values() for pid in pids)
    assert set(by_pid) == {first.pid, second.pid}, by_pid  # the workers split the work
    again = sum(1 for pids in runs.values() if len(pids) > 1)
    print(f"task runs before the kill by process {dict(by_pid)}; ran again after it: {again}")


def test_a_second_process_on_a_state_file_served_in_memory_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    cfg = fault_config("inMemory", {"sqlite": {"path": db}})
    config = write_config(tmp_path / "infinitic.yml", cfg)
    workers = WorkerProcesses(config, tmp_path)
    try:
        holder = workers.start()
        with pytest.raises(ConfigError) as refused:
            InfiniticWorker.from_config_file(config).start()
        message = str(refused.value)
        assert str(config) in message and db in message
        assert f"process {holder.pid}" in message
        assert "transport: sqlite" in message and "Pulsar" in message
        # a client of that config could never reach the worker: refused too, not left waiting
        with pytest.raises(ConfigError, match=f"process {holder.pid}.*transport: sqlite"):
            InfiniticClient.from_config_file(config)
        # the recommended setup joins the same file once the in-memory worker is gone
        workers.kill(holder)
        shared = {**cfg, "transport": "sqlite"}
        with InfiniticWorker.from_config(shared).start() as worker:
            flow = worker.client.new_workflow(FaultWorkflow)
            assert worker.client.dispatch(flow.run, 1, "plain").result(timeout=60) == expected(1)
    finally:
        workers.stop_all()
