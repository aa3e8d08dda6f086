"""DBOS (https://pypi.org/project/dbos/) on workloads (a) and (b), SQLite system database.

    python benchmarks/peers/dbos_peer.py --workload a --size 10000 --budget 300 --folder /tmp/x

Standalone (imports only dbos and the standard library) so it can run in another interpreter
than infinitic's. Prints one JSON line with the same keys as benchmarks/e2e.py.

(a) SIZE workflows of 3 sequential steps, all started at once (DBOS.start_workflow runs them on
its thread pool; latency is taken by 64 waiter threads in dispatch order); (b) one workflow fanning out SIZE steps: DBOS runs steps in parallel only as
child workflows, so each task is a one-step child workflow, and the parent awaits them all.
"""

# The peers are optional (the bench extra) and untyped: mypy checks only our side of this file.
# mypy: disable-error-code="import-not-found,untyped-decorator,no-any-return,unused-ignore,misc"

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from importlib.metadata import version
from typing import Any

from dbos import DBOS, DBOSConfig

PROGRESS = [0]
_LOCK = threading.Lock()


@DBOS.step()
def step(i: int) -> int:
    with _LOCK:
        PROGRESS[0] += 1
    return i + 1


@DBOS.workflow()
def sequential(i: int) -> int:
    return step(step(step(i)))


@DBOS.workflow()
def one_step(i: int) -> int:
    return step(i)


@DBOS.workflow()
def fanout(n: int) -> int:
    # child workflows started at once (a queue polls once a second: 6 tasks/s here)
    handles = [DBOS.start_workflow(one_step, i) for i in range(n)]
    return sum(h.get_result() for h in handles)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def run(workload: str, size: int, budget: float, folder: str) -> dict[str, Any]:
    config: DBOSConfig = {
        "name": "bench",
        "system_database_url": f"sqlite:///{folder}/dbos.sqlite",
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    for i in range(5):  # warm-up
        DBOS.start_workflow(sequential, i).get_result()
    cpu0 = time.process_time()
    latencies: list[float] = []
    t0 = time.perf_counter()
    if workload == "a":
        expected = {i + 3 for i in range(size)}

        def one(handle: Any, start: float) -> int:
            result: int = handle.get_result()
            latencies.append(time.perf_counter() - start)
            return result

        # all started at once, as the infinitic run does; then waiters in dispatch order
        # each start is a write to the system database: bounded by the budget too
        started = []
        for i in range(size):
            if time.perf_counter() - t0 > budget:
                break
            started.append((DBOS.start_workflow(sequential, i), time.perf_counter()))
        pool = ThreadPoolExecutor(max_workers=64)
        futures = [pool.submit(one, h, start) for h, start in started]
        done, pending = wait(futures, timeout=max(0.0, budget - (time.perf_counter() - t0)))
        results = [f.result() for f in done if f.exception() is None]
        errors = [repr(f.exception())[:300] for f in done if f.exception() is not None]
        completed, finished = len(results), not pending and len(started) == size
    else:
        expected = {sum(range(1, size + 1))}
        before = PROGRESS[0]
        handle = DBOS.start_workflow(fanout, size)
        waiter = ThreadPoolExecutor(max_workers=1).submit(handle.get_result)
        done, _ = wait([waiter], timeout=budget)
        failure = waiter.exception() if done else None
        errors = [repr(failure)[:300]] if failure is not None else []
        results = [waiter.result()] if done and failure is None else []
        completed, finished = min(PROGRESS[0] - before, size), bool(done)
        if done:
            latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    if any(r not in expected for r in results):
        raise SystemExit(f"dbos workload {workload}: unexpected results")
    latencies.sort()
    workflows = completed if workload == "a" else int(finished)
    return {
        "peer": "dbos",
        "peer_version": version("dbos"),
        "home": "dbos + SQLite system database",
        "workload": workload,
        "size": size,
        "unit": "workflows" if workload == "a" else "tasks",
        "budget_s": budget,
        "finished": finished,
        "completed": completed,
        "failed": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": round(elapsed, 3),
        "per_second": round(completed / elapsed, 1) if elapsed else None,
        "p50_ms": None if not latencies else round(percentile(latencies, 0.5) * 1000, 2),  # type: ignore[operator]
        "p99_ms": None if not latencies else round(percentile(latencies, 0.99) * 1000, 2),  # type: ignore[operator]
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_workflow": round(cpu / workflows * 1000, 3) if workflows else None,
        "cpu_ms_per_unit": round(cpu / completed * 1000, 4) if completed else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", choices=["a", "b"], required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--folder", required=True)
    args = parser.parse_args()
    print(json.dumps(run(args.workload, args.size, args.budget, args.folder)), flush=True)
    sys.stderr.flush()
    os._exit(0)  # DBOS's threads would go on with what a blown budget left running


if __name__ == "__main__":
    main()
