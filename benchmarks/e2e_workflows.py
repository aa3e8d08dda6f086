"""End to end workflows on the embedded default; prints JSON lines of throughput and latency.

    python benchmarks/e2e_workflows.py [--storage memory|sqlite] [--workflows 1000] [--fanout 1000]

(a) N workflows of 3 sequential no-op tasks, dispatched at once; (b) one workflow fanning out M
no-op tasks and waiting for all of them (all_of). Compare compiled and twin kernels by running
it again with INFINITIC_NO_EXTENSIONS=1.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infinitic import InfiniticWorker, Workflow, all_of, name  # noqa: E402
from infinitic._core import envelope, replay  # noqa: E402


@name("BenchTask")
class BenchTask:
    def step(self, i: int) -> int: ...


class BenchTaskImpl(BenchTask):
    def step(self, i: int) -> int:
        return i + 1


@name("BenchFlow")
class BenchFlow(Workflow):
    def sequential(self, i: int) -> int: ...
    def fanout(self, n: int) -> int: ...
    def long(self, n: int) -> int: ...


class BenchFlowImpl(BenchFlow):
    def __init__(self) -> None:
        self.tasks = self.new_service(BenchTask)

    def sequential(self, i: int) -> int:
        return self.tasks.step(self.tasks.step(self.tasks.step(i)))

    def fanout(self, n: int) -> int:
        return sum(all_of(*(self.dispatch(self.tasks.step, i) for i in range(n))).result())

    def long(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = self.tasks.step(value)
        return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--storage", choices=["memory", "sqlite", "redis", "mysql"], default="memory"
    )
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--fanout", type=int, default=1000)
    parser.add_argument(
        "--steps",
        type=int,
        nargs="*",
        default=[100, 200, 400],
        help="lengths of one sequential workflow, to show how replay scales",
    )
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="infinitic-bench-")
    storage, stop = storage_config(args.storage, folder)
    config = {
        "name": "bench",
        "storage": storage,
        "services": [
            {
                "name": "BenchTask",
                "class": "benchmarks.e2e_workflows.BenchTaskImpl",
                "concurrency": 8,
            }
        ],
        "workflows": [
            {
                "name": "BenchFlow",
                "class": "benchmarks.e2e_workflows.BenchFlowImpl",
                "concurrency": 2,
            }
        ],
    }
    common = {
        "storage": args.storage,
        "envelope": envelope.IMPLEMENTATION,
        "replay": replay.IMPLEMENTATION,
    }
    try:
        run(config, common, args)
    finally:
        stop()


def storage_config(kind: str, folder: str) -> tuple[Any, Any]:
    """The storage config, and how to stop a server started for it (the tests' harnesses)."""
    if kind == "sqlite":
        return {"sqlite": {"path": f"{folder}/bench.db"}}, lambda: None
    if kind == "redis":
        from tests.storage.redis_server import RedisServer

        server = RedisServer.launch()
        options = {k: v for k, v in server.storage_options().items() if v is not None}
        return {"redis": options}, server.stop
    if kind == "mysql":
        from tests.storage.mysql_server import find_server

        found, why = find_server()
        if found is None:
            raise SystemExit(f"no MySQL server: {why}")
        mysql = found.start()
        return {"mysql": mysql.endpoint.options()}, mysql.stop
    return "inMemory", lambda: None


def run(config: dict[str, Any], common: dict[str, Any], args: argparse.Namespace) -> None:
    with InfiniticWorker.from_config(config) as worker:
        client = worker.client
        flow = client.new_workflow(BenchFlow)
        latencies = []
        for i in range(50):  # unloaded start-to-result
            t0 = time.perf_counter()
            client.dispatch(flow.sequential, i).result(timeout=60)
            latencies.append(time.perf_counter() - t0)
        latencies.sort()
        cpu0, t0 = time.process_time(), time.perf_counter()
        handles = [client.dispatch(flow.sequential, i) for i in range(args.workflows)]
        done = []
        for h in handles:
            start = time.perf_counter()
            done.append(h.result(timeout=600))
            del start
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        assert done == [i + 3 for i in range(args.workflows)]
        print(
            json.dumps(
                {
                    "benchmark": "3 sequential tasks per workflow",
                    **common,
                    "workflows": args.workflows,
                    "seconds": round(elapsed, 3),
                    "workflows_per_second": round(args.workflows / elapsed),
                    "cpu_ms_per_workflow": round(cpu / args.workflows * 1000, 3),
                    "unloaded_p50_ms": round(statistics.median(latencies) * 1000, 2),
                    "unloaded_p99_ms": round(latencies[-1] * 1000, 2),
                }
            )
        )
        cpu0, t0 = time.process_time(), time.perf_counter()
        total = client.dispatch(flow.fanout, args.fanout).result(timeout=600)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        assert total == sum(range(1, args.fanout + 1))
        print(
            json.dumps(
                {
                    "benchmark": "one workflow fanning out tasks",
                    **common,
                    "tasks": args.fanout,
                    "seconds": round(elapsed, 3),
                    "tasks_per_second": round(args.fanout / elapsed),
                    "cpu_seconds": round(cpu, 3),
                    "peak_rss_mb": round(
                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                    ),
                }
            )
        )
        for steps in args.steps:
            t0 = time.perf_counter()
            assert client.dispatch(flow.long, steps).result(timeout=600) == steps
            elapsed = time.perf_counter() - t0
            print(
                json.dumps(
                    {
                        "benchmark": "one sequential workflow",
                        **common,
                        "steps": steps,
                        "seconds": round(elapsed, 3),
                        "ms_per_step": round(elapsed / steps * 1000, 3),
                    }
                )
            )


if __name__ == "__main__":
    main()
