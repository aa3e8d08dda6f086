"""One end-to-end workload on one home (transport + storage), in this process; prints one JSON line.

    python -m benchmarks.e2e --workload a --size 10000 --budget 300 \
        --transport '"inMemory"' --storage '{"sqlite": {"path": "/tmp/x.db"}}'

(--transport and --storage default to $INFINITIC_BENCH_TRANSPORT / _STORAGE, else "inMemory".)

Workloads (benchmarks/workloads.py): a) SIZE workflows of 3 sequential tasks, b) one workflow
fanning out SIZE tasks, c) SIZE workflows each waiting on a 1-second timer, d) one workflow of
SIZE sequential tasks. The worker runs here, with its client; benchmarks/run.py starts one
process per workload (so peak RSS is the workload's) and the servers a home needs.

Latency is start-to-result per workflow, timed by awaiting every handle on an asyncio loop of
this thread. Past the budget the run stops and reports what finished ("finished": false, with
the throughput of the part that did: a single workflow's progress is its task runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fleet import WorkerFleet  # noqa: E402
from benchmarks.kernels import require_compiled  # noqa: E402
from benchmarks.workloads import PROGRESS, BenchFlow, CountingListener  # noqa: E402
from infinitic import InfiniticClient, InfiniticWorker  # noqa: E402
from infinitic._core import envelope, replay  # noqa: E402

WORKLOADS = {
    "a": "workflows of 3 sequential tasks",
    "b": "one workflow fanning out tasks",
    "c": "workflows with a 1-second timer",
    "d": "one sequential workflow of many tasks",
}
UNLOADED = 30
IDLE_SECONDS = 10.0  # CPU of each process measured over this long once the workload is done
UNITS = {"a": "workflows", "b": "tasks", "c": "workflows", "d": "steps"}


# "1": an event listener and /metrics on the worker; "events" or "metrics": only that one
OBSERVE_ENV = "INFINITIC_BENCH_OBSERVE"
# JSON merged into transport.pulsar, to measure one setting against another (run.py --pulsar)
PULSAR_ENV = "INFINITIC_BENCH_PULSAR"


def worker_config(transport: Any, storage: Any) -> dict[str, Any]:
    if isinstance(transport, dict) and "pulsar" in transport:
        # a namespace per run, so no run sees another's messages
        extra = json.loads(os.environ.get(PULSAR_ENV) or "{}")
        namespace = f"b{uuid.uuid4().hex[:10]}"
        transport = {"pulsar": {**transport["pulsar"], **extra, "namespace": namespace}}
    observe: dict[str, Any] = {}
    what = os.environ.get(OBSERVE_ENV, "")
    if what in ("1", "events"):
        observe["eventListener"] = {"class": "benchmarks.workloads.CountingListener"}
    if what in ("1", "metrics"):
        observe["metrics"] = {"prometheus": {"host": "127.0.0.1", "port": 0}}
    return {
        "name": "bench",
        "transport": transport,
        "storage": storage,
        "services": [
            {
                "name": "BenchTask",
                "class": "benchmarks.workloads.BenchTaskImpl",
                "concurrency": 8,
            }
        ],
        "workflows": [
            {
                "name": "BenchFlow",
                "class": "benchmarks.workloads.BenchFlowImpl",
                "concurrency": 2,
            }
        ],
        **observe,
    }


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


async def _timed(handle: Any, start: float, latencies: list[float]) -> Any:
    value = await handle
    latencies.append(time.perf_counter() - start)
    return value


async def _many(client: Any, method: Any, size: int, budget: float) -> dict[str, Any]:
    """Dispatches `size` workflows at once and awaits them all, up to the budget."""
    latencies: list[float] = []
    t0 = time.perf_counter()
    tasks = [
        asyncio.ensure_future(_timed(client.dispatch(method, i), time.perf_counter(), latencies))
        for i in range(size)
    ]
    done, pending = await asyncio.wait(tasks, timeout=budget)
    elapsed = time.perf_counter() - t0
    for task in pending:
        task.cancel()
    failed = sum(1 for t in done if t.exception() is not None)
    latencies.sort()
    return {
        "completed": len(done) - failed,
        "failed": failed,
        "finished": not pending,
        "seconds": elapsed,
        "latencies": latencies,
        "results": [t.result() for t in tasks if t in done and t.exception() is None],
    }


async def _one(
    client: Any, method: Any, size: int, budget: float, remote: bool = False
) -> dict[str, Any]:
    """One workflow whose progress is counted in task runs (not seen here when the tasks
    run in other processes: then 0 unless it finished)."""
    before = PROGRESS.value
    t0 = time.perf_counter()
    task = asyncio.ensure_future(_timed(client.dispatch(method, size), t0, []))
    done, _ = await asyncio.wait([task], timeout=budget)
    elapsed = time.perf_counter() - t0
    failed = bool(done) and task.exception() is not None
    progress = (size if done and not failed else 0) if remote else PROGRESS.value - before
    if not done:
        task.cancel()
    return {
        "completed": min(progress, size),
        "failed": int(failed),
        "finished": bool(done) and not failed,
        "seconds": elapsed,
        "latencies": [elapsed] if done and not failed else [],
        "results": [task.result()] if done and not failed else [],
    }


def run(
    workload: str,
    size: int,
    budget: float,
    transport: Any,
    storage: Any,
    worker_processes: int = 0,
    folder: Path | None = None,
) -> dict[str, Any]:
    workers = None
    if worker_processes:
        # the workers in processes of their own, this one only a client (transport: sqlite)
        workers = WorkerFleet(worker_config(transport, storage), worker_processes, folder)
        client = InfiniticClient.from_config(worker_config(transport, storage))
    else:
        # never closed: main() ends the process once the figures are out (see there)
        worker = InfiniticWorker.from_config(worker_config(transport, storage)).start()
        client = worker.client
    flow = client.new_workflow(BenchFlow)
    for i in range(20):  # warm-up: connections, topics, caches
        client.dispatch(flow.sequential, i).result(timeout=120)
    unloaded = []
    for i in range(UNLOADED):  # one 3-task workflow at a time: the latency floor of the home
        t0 = time.perf_counter()
        client.dispatch(flow.sequential, i).result(timeout=120)
        unloaded.append(time.perf_counter() - t0)
    unloaded.sort()
    cpu0 = time.process_time()
    workers_cpu0 = workers.cpu_seconds() if workers is not None else 0.0
    if workload == "a":
        out = asyncio.run(_many(client, flow.sequential, size, budget))
        expected = {i + 3 for i in range(size)}
    elif workload == "c":
        out = asyncio.run(_many(client, flow.sleeper, size, budget))
        expected = set(range(size))
    elif workload == "b":
        out = asyncio.run(_one(client, flow.fanout, size, budget, workers is not None))
        expected = {sum(range(1, size + 1))}
    else:
        out = asyncio.run(_one(client, flow.long, size, budget, workers is not None))
        expected = {size}
    cpu = time.process_time() - cpu0
    extra: dict[str, Any] = {}
    if workers is not None:
        cpu += workers.cpu_seconds() - workers_cpu0
        extra = {"worker_processes": worker_processes, **workers.idle_cpu(IDLE_SECONDS)}
        workers.stop()
    # results must be the right ones, or the figures mean nothing
    wrong = [r for r in out["results"] if r not in expected]
    if wrong:
        raise SystemExit(f"workload {workload}: unexpected results {wrong[:5]}")
    lat = out["latencies"]
    workflows = out["completed"] if workload in "ac" else (1 if out["finished"] else 0)
    return {
        "workload": workload,
        "description": WORKLOADS[workload],
        "size": size,
        "unit": UNITS[workload],
        "budget_s": budget,
        "finished": out["finished"],
        "completed": out["completed"],
        "failed": out["failed"],
        "seconds": round(out["seconds"], 3),
        "per_second": round(out["completed"] / out["seconds"], 1) if out["seconds"] else None,
        "p50_ms": _ms(percentile(lat, 0.5)),
        "p99_ms": _ms(percentile(lat, 0.99)),
        "unloaded_p50_ms": _ms(percentile(unloaded, 0.5)),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_workflow": round(cpu / workflows * 1000, 3) if workflows else None,
        "cpu_ms_per_unit": round(cpu / out["completed"] * 1000, 4) if out["completed"] else None,
        "kernels": {"envelope": envelope.IMPLEMENTATION, "replay": replay.IMPLEMENTATION},
        "events_heard": CountingListener.heard,  # 0 unless observed (run.py --observe)
        **extra,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds before giving up")
    # the configs may hold a password: run.py passes them in the environment, not in argv
    for what in ("transport", "storage"):
        default = os.environ.get(f"INFINITIC_BENCH_{what.upper()}", '"inMemory"')
        parser.add_argument(f"--{what}", type=json.loads, default=default, help="JSON")
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=0,
        help="run the worker in N processes of its own (0: in this one, with the client)",
    )
    parser.add_argument("--folder", type=Path, help="where worker processes write their logs")
    args = parser.parse_args()
    require_compiled("e2e.py")
    result = run(
        args.workload,
        args.size,
        args.budget,
        args.transport,
        args.storage,
        args.worker_processes,
        args.folder,
    )
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    # a worker closing with thousands of unfinished workflows (a blown budget) can take long:
    # the figures are out, the process can go
    os._exit(0)


if __name__ == "__main__":
    main()
