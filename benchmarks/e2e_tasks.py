"""End to end: N no-op tasks from a client through the in-memory worker; prints tasks/s and latency.

    python benchmarks/e2e_tasks.py [--tasks 10000] [--concurrency 8] [--async-method]

Every message goes through the real envelope codec and JSON payloads. Compare compiled and twin
by running it once normally and once with INFINITIC_NO_EXTENSIONS=1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.kernels import require_compiled  # noqa: E402
from infinitic import InfiniticWorker, name  # noqa: E402
from infinitic._core import envelope  # noqa: E402


@name("Noop")
class Noop:
    def run(self, i: int) -> int: ...
    async def arun(self, i: int) -> int: ...


class NoopImpl(Noop):
    def run(self, i: int) -> int:
        return i

    async def arun(self, i: int) -> int:
        return i


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--async-method", action="store_true")
    args = parser.parse_args()
    require_compiled("e2e_tasks.py")
    config = {
        "name": "bench",
        "services": [
            {
                "name": "Noop",
                "class": "benchmarks.e2e_tasks.NoopImpl",
                "concurrency": args.concurrency,
            }
        ],
    }
    with InfiniticWorker.from_config(config) as worker:
        client = worker.client
        stub = client.new_service(Noop)
        method = stub.arun if args.async_method else stub.run
        for handle in [client.dispatch(method, i) for i in range(200)]:  # warm-up
            handle.result(timeout=30)
        latencies = []
        for i in range(200):  # unloaded round trip
            t0 = time.perf_counter()
            client.dispatch(method, i).result(timeout=30)
            latencies.append(time.perf_counter() - t0)
        start = time.perf_counter()
        cpu0 = time.process_time()
        handles = [client.dispatch(method, i) for i in range(args.tasks)]
        results = [h.result(timeout=300) for h in handles]
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        assert results == list(range(args.tasks))
    latencies.sort()
    report = {
        "benchmark": "e2e_tasks",
        "envelope": envelope.IMPLEMENTATION,
        "tasks": args.tasks,
        "concurrency": args.concurrency,
        "method": "async" if args.async_method else "sync",
        "seconds": round(elapsed, 3),
        "tasks_per_second": round(args.tasks / elapsed),
        "cpu_seconds_per_1000_tasks": round(cpu / args.tasks * 1000, 4),
        "unloaded_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "unloaded_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
