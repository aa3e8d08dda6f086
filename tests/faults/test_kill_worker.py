"""kill -9 worker processes at random moments under 1,000 workflows, on Pulsar + Redis and on
one SQLite file (transport and state).

The client is this test's process, which survives; workers consume the real broker and keep
state in a real Redis, or share the SQLite file. Every workflow completes, each completion reaches its handle once, and
no result is applied twice to a state. A task may run twice (at least once): that is counted.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from infinitic import InfiniticClient
from tests.faults.fault_apps import (
    RECORD_ENV,
    FaultWorkflow,
    OutcomeCounter,
    WorkerProcesses,
    audit_states,
    executions,
    expected,
    fault_config,
    mode_of,
    redis_storage,
    robust_transport,
    settled_states,
    wait_all,
    write_config,
)

COUNT = int(os.environ.get("INFINITIC_FAULTS_WORKFLOWS", "1000"))
KILLS = int(os.environ.get("INFINITIC_FAULTS_KILLS", "6"))


@pytest.mark.slow
@pytest.mark.pulsar
@pytest.mark.redis
def test_kill_9_workers_at_random_moments_under_1000_workflows(
    pulsar_transport: dict[str, Any], redis_server: Any, tmp_path: Path
) -> None:
    transport, storage = robust_transport(pulsar_transport), redis_storage(redis_server)
    _kill_at_random_moments(transport, storage, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(600)  # each restart re-drives every unfinished workflow before consuming
def test_kill_9_workers_at_random_moments_on_one_sqlite_file(tmp_path: Path) -> None:
    """No broker: the SQLite transport and state in one file; a killed worker's claims go to
    the others when its lease lapses."""
    db = str(tmp_path / "infinitic.db")
    transport = {"sqlite": {"path": db, "leaseSeconds": 2, "maxRedeliveries": 200}}
    _kill_at_random_moments(transport, {"sqlite": {"path": db}}, tmp_path)


def _kill_at_random_moments(transport: Any, storage: Any, tmp_path: Path) -> None:
    seed = int(os.environ.get("INFINITIC_FAULTS_SEED", str(random.randrange(2**32))))
    print(f"kill schedule seed: {seed} (INFINITIC_FAULTS_SEED={seed} replays it)")
    rng = random.Random(seed)
    record = tmp_path / "executions.txt"
    workers = WorkerProcesses(
        write_config(tmp_path / "worker.yml", fault_config(transport, storage)),
        tmp_path,
        env={RECORD_ENV: str(record)},
    )
    client: InfiniticClient | None = None
    kills = 0
    started = time.monotonic()
    try:
        workers.start()
        workers.start()
        client = InfiniticClient.from_config({"name": "kill-client", "transport": transport})
        counter = OutcomeCounter(client)
        flow = client.new_workflow(FaultWorkflow)
        handles = [client.dispatch(flow.run, i, mode_of(i)) for i in range(COUNT)]
        give_up = time.monotonic() + 300
        for _ in range(KILLS):
            if kills >= KILLS or all(h.done() for h in handles) or time.monotonic() > give_up:
                break
            # a random moment: not a synchronization, the faults are meant to land anywhere
            time.sleep(rng.uniform(0.3, 2.5))
            alive = workers.alive()
            assert alive, "every worker process died by itself"
            victims = alive if rng.random() < 0.25 else [rng.choice(alive)]
            for victim in victims:
                workers.kill(victim)
                kills += 1
            done = sum(h.done() for h in handles)
            print(f"{time.monotonic() - started:6.1f}s killed {len(victims)}, {done} done")
            for _ in victims:
                workers.start()
        results = wait_all(handles, time.monotonic() + 300)
        ids = [h.id for h in handles]
        states = settled_states(storage, "FaultWorkflow", ids)  # read while workers still run
    finally:
        if client is not None:
            client.close()
        workers.stop_all()
    elapsed = time.monotonic() - started
    assert results == [expected(i) for i in range(COUNT)]
    # each completion reached its handle once; copies (re-sent by a re-driving engine) dropped
    assert {counter.delivered[(i, i)] for i in ids} == {1}
    audit = audit_states(states)
    assert audit.problems() == []
    runs = executions(record)
    tasks = audit.task_commands
    assert tasks == 3 * COUNT and len(runs) == tasks  # every task ran, none unknown
    print(
        f"kills {kills}, worker starts {workers.started}, workflows {COUNT} in {elapsed:.1f}s: "
        f"lost 0, completions seen twice 0, results applied twice 0; "
        f"task executions {sum(runs.values())} for {tasks} tasks "
        f"({sum(1 for n in runs.values() if n > 1)} ran more than once); "
        f"outcome copies dropped by the client {counter.duplicates()}"
    )
