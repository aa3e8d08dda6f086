"""Unloaded start-to-result latency of the SQLite transport: one 3-task workflow at a time,
the client in this process, the worker in `--processes` processes of its own (run.py's
`sqlite-transport` home without its loaded workloads and idle measure: it takes seconds).

    python benchmarks/sqlite_latency.py --processes 1 2 --runs 200
    python benchmarks/sqlite_latency.py --against /path/to/other/checkout --rounds 4

`--against` measures this checkout and another one (e.g. a worktree of main) in turns, in
one run, so a loaded machine weighs on both alike; it prints p50 and p95 of each and their
ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere, as its docstring says

from benchmarks.kernels import require_compiled  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(processes: int, runs: int, warmup: int = 30) -> list[float]:
    """Seconds from dispatch to result of `runs` workflows, one at a time."""
    from benchmarks.e2e import worker_config
    from benchmarks.fleet import WorkerFleet
    from benchmarks.workloads import BenchFlow
    from infinitic import InfiniticClient

    folder = Path(tempfile.mkdtemp(prefix="infinitic-sqlt-latency-"))
    path = str(folder / "bench.db")
    config = worker_config({"sqlite": {"path": path}}, {"sqlite": {"path": path}})
    fleet = WorkerFleet(config, processes, folder)
    client = InfiniticClient.from_config(config)
    try:
        flow = client.new_workflow(BenchFlow)
        for i in range(warmup):  # connections, caches, the first keys' placement
            client.dispatch(flow.sequential, i).result(timeout=60)
        times = []
        for i in range(runs):
            t0 = time.perf_counter()
            result = client.dispatch(flow.sequential, i).result(timeout=60)
            times.append(time.perf_counter() - t0)
            if result != i + 3:
                raise SystemExit(f"wrong result {result!r} for {i}")
    finally:
        client.close()
        fleet.stop()
    return times


def _figures(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(times, 0.5) * 1000, 2),
        "p95_ms": round(percentile(times, 0.95) * 1000, 2),
    }


def _in(tree: Path, processes: int, runs: int) -> list[float]:
    """`measure` run by the checkout `tree` (its code, its compiled kernels)."""
    script = ROOT / "benchmarks" / "sqlite_latency.py"
    done = subprocess.run(
        [sys.executable, str(script), "--raw", "--processes", str(processes)]
        + ["--runs", str(runs), "--tree", str(tree)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=200, help="workflows per measure")
    parser.add_argument("--against", type=Path, help="another checkout, measured in turns")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each, with --against")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tree is not None:  # run by _in: the other checkout's benchmarks and workers
        sys.path.insert(0, str(args.tree))
        os.chdir(args.tree)
    if args.raw:
        require_compiled("sqlite_latency.py")
        print(json.dumps(measure(args.processes[0], args.runs)))
        return
    if args.against is None:
        require_compiled("sqlite_latency.py")
        for n in args.processes:
            print(
                json.dumps({"processes": n, "runs": args.runs, **_figures(measure(n, args.runs))})
            )
        return
    trees = {"this": ROOT, "other": args.against.resolve()}
    pooled: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for n in args.processes:
            for name, tree in trees.items():
                pooled.setdefault((name, n), []).extend(_in(tree, n, args.runs))
    for n in args.processes:
        this, other = _figures(pooled["this", n]), _figures(pooled["other", n])
        ratios = {k: round(other[k] / this[k], 2) for k in this}
        print(
            json.dumps(
                {"processes": n, "runs": len(pooled["this", n]), "this": this}
                | {"other": other, "other/this": ratios}
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
