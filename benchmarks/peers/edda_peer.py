"""Edda (https://pypi.org/project/edda-framework/) on workloads (a) and (b), SQLite storage.

    python benchmarks/peers/edda_peer.py --workload a --size 10000 --budget 300 --folder /tmp/x

Standalone (imports only edda and the standard library). Edda is asyncio-native: a workflow runs
inside `start()` until it ends or suspends, so (a) starts SIZE workflows concurrently with
asyncio and (b) is one workflow gathering SIZE activities. Prints one JSON line with the same
keys as benchmarks/e2e.py. One start of each workflow comes first: concurrent first starts race
on Edda's workflow-definition row (UNIQUE constraint failed, seen with 0.16.2).
"""

# The peers are optional (the bench extra) and untyped: mypy checks only our side of this file.
# mypy: disable-error-code="import-not-found,untyped-decorator,no-any-return,unused-ignore,misc"

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from importlib.metadata import version
from typing import Any

from edda import EddaApp, WorkflowContext, activity, workflow

PROGRESS = [0]
CONCURRENCY = 64


def _starter(wf: Any, **kwargs: Any) -> Any:
    return lambda: wf.start(**kwargs)


@activity
async def step(ctx: WorkflowContext, i: int) -> int:
    PROGRESS[0] += 1
    return i + 1


@workflow
async def sequential(ctx: WorkflowContext, i: int) -> int:
    a = await step(ctx, i)
    b = await step(ctx, a)
    return int(await step(ctx, b))


@workflow
async def fanout(ctx: WorkflowContext, n: int) -> int:
    return sum(await asyncio.gather(*(step(ctx, i) for i in range(n))))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


async def _timed(
    app: EddaApp, start: Any, t0: float, latencies: list[float], gate: asyncio.Semaphore
) -> Any:
    async with gate:
        instance_id = await start()
    instance = await app.storage.get_instance(instance_id)
    latencies.append(time.perf_counter() - t0)
    return instance["status"], (instance.get("output_data") or {}).get("result")


async def run(workload: str, size: int, budget: float, folder: str) -> dict[str, Any]:
    app = EddaApp(service_name="bench", db_url=f"sqlite:///{folder}/edda.db")
    await app.initialize()
    await sequential.start(i=0)
    await fanout.start(n=1)
    cpu0 = time.process_time()
    latencies: list[float] = []
    # 10,000 concurrent starts made 97% of them fail on SQLite: at most CONCURRENCY at a time,
    # as the DBOS peer has 64 waiters
    gate = asyncio.Semaphore(CONCURRENCY)
    t0 = time.perf_counter()
    before = PROGRESS[0]
    if workload == "a":
        expected = {i + 3 for i in range(size)}
        tasks = [
            asyncio.ensure_future(
                _timed(app, _starter(sequential, i=i), time.perf_counter(), latencies, gate)
            )
            for i in range(size)
        ]
    else:
        expected = {sum(range(1, size + 1))}
        tasks = [asyncio.ensure_future(_timed(app, _starter(fanout, n=size), t0, latencies, gate))]
    done, pending = await asyncio.wait(tasks, timeout=budget)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    results = [t.result() for t in done if t.exception() is None]
    errors = [repr(t.exception())[:300] for t in done if t.exception() is not None]
    if any(status != "completed" or value not in expected for status, value in results):
        raise SystemExit(f"edda workload {workload}: unexpected results {results[:3]}")
    finished = not pending and len(results) == len(tasks)
    completed = len(results) if workload == "a" else min(PROGRESS[0] - before, size)
    workflows = len(results)
    latencies.sort()
    return {
        "peer": "edda",
        "peer_version": version("edda-framework"),
        "home": "edda + SQLite (aiosqlite)",
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
        "p50_ms": _ms(percentile(latencies, 0.5)),
        "p99_ms": _ms(percentile(latencies, 0.99)),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_workflow": round(cpu / workflows * 1000, 3) if workflows else None,
        "cpu_ms_per_unit": round(cpu / completed * 1000, 4) if completed else None,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", choices=["a", "b"], required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--folder", required=True)
    args = parser.parse_args()
    asyncio.run(report(args))


async def report(args: argparse.Namespace) -> None:
    result = await run(args.workload, args.size, args.budget, args.folder)
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    # from inside the loop: asyncio.run would first wait for what a blown budget left running
    os._exit(0)


if __name__ == "__main__":
    main()
