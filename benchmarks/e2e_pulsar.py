"""End to end through a real Pulsar broker, with 1 or more worker processes.

    python benchmarks/e2e_pulsar.py [--workers 1 2] [--tasks 2000] [--workflows 500]

Uses INFINITIC_PULSAR_URL / INFINITIC_PULSAR_ADMIN_URL, or starts a broker with
scripts/start-pulsar (and stops it). Worker processes run `infinitic worker` on a shared SQLite
file; the client runs here. Prints one JSON line per measurement, with the CPU seconds the
broker and the workers used during it (from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.e2e import worker_config  # noqa: E402
from benchmarks.kernels import require_compiled  # noqa: E402
from benchmarks.workloads import BenchFlow, BenchTask  # noqa: E402
from infinitic import InfiniticClient  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_broker() -> tuple[str, str, int, str]:
    data_dir = tempfile.mkdtemp(prefix="infinitic-bench-pulsar-")
    out = subprocess.run(
        [str(ROOT / "scripts/start-pulsar"), "--free-ports", "--data-dir", data_dir],
        capture_output=True,
        text=True,
        check=True,
    )
    values = dict(line.split("=", 1) for line in out.stdout.split())
    return (
        values["INFINITIC_PULSAR_URL"],
        values["INFINITIC_PULSAR_ADMIN_URL"],
        int(values["INFINITIC_PULSAR_PID"]),
        data_dir,
    )


def run(
    workers: int, url: str, admin: str, broker_pid: int | None, args: argparse.Namespace
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="infinitic-bench-"))
    transport = {
        "pulsar": {
            "brokerServiceUrl": url,
            "webServiceUrl": admin,
            "tenant": "bench",
            "namespace": f"n{uuid.uuid4().hex[:8]}",
        }
    }
    config = worker_config(transport, {"sqlite": {"path": str(folder / "state.db")}})
    (folder / "worker.yml").write_text(yaml.safe_dump(config))
    procs = []
    for _ in range(workers):
        proc = subprocess.Popen(
            [sys.executable, "-m", "infinitic", "worker", "-c", str(folder / "worker.yml")],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None and "started" in proc.stderr.readline()
        procs.append(proc)
    client = InfiniticClient.from_config({"name": "bench-client", "transport": config["transport"]})
    try:
        common = {
            "workers": workers,
            "broker": "pulsar 4.0.7 standalone",
            "storage": "sqlite (shared file)",
        }
        task = client.new_service(BenchTask)
        flow = client.new_workflow(BenchFlow)
        for h in [client.dispatch(task.step, i) for i in range(200)]:
            h.result(timeout=120)
        for h in [client.dispatch(flow.sequential, i) for i in range(20)]:
            h.result(timeout=120)

        def measure(name: str, count: int, dispatch: object) -> None:
            lat = []
            for i in range(50):
                t0 = time.perf_counter()
                dispatch(i).result(timeout=120)  # type: ignore[operator]
                lat.append(time.perf_counter() - t0)
            lat.sort()
            cpu_b = cpu_seconds(broker_pid) if broker_pid else 0.0
            cpu_w = sum(cpu_seconds(p.pid) for p in procs)
            cpu_c = time.process_time()
            t0 = time.perf_counter()
            handles = [dispatch(i) for i in range(count)]  # type: ignore[operator]
            for h in handles:
                h.result(timeout=600)
            elapsed = time.perf_counter() - t0
            print(
                json.dumps(
                    {
                        "benchmark": name,
                        **common,
                        "count": count,
                        "seconds": round(elapsed, 3),
                        "per_second": round(count / elapsed),
                        "unloaded_p50_ms": round(statistics.median(lat) * 1000, 2),
                        "unloaded_p99_ms": round(lat[-1] * 1000, 2),
                        "broker_cpu_s": round(cpu_seconds(broker_pid) - cpu_b, 2)
                        if broker_pid
                        else None,
                        "workers_cpu_s": round(sum(cpu_seconds(p.pid) for p in procs) - cpu_w, 2),
                        "client_cpu_s": round(time.process_time() - cpu_c, 2),
                    }
                ),
                flush=True,
            )

        measure("no-op tasks", args.tasks, lambda i: client.dispatch(task.step, i))
        measure(
            "workflows of 3 sequential tasks",
            args.workflows,
            lambda i: client.dispatch(flow.sequential, i),
        )
    finally:
        client.close()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
            assert proc.stderr is not None
            proc.stderr.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workflows", type=int, default=500)
    args = parser.parse_args()
    require_compiled("e2e_pulsar.py")
    url = os.environ.get("INFINITIC_PULSAR_URL")
    admin = os.environ.get("INFINITIC_PULSAR_ADMIN_URL", "http://127.0.0.1:8080")
    broker_pid = (
        int(os.environ["INFINITIC_PULSAR_PID"]) if os.environ.get("INFINITIC_PULSAR_PID") else None
    )
    data_dir = None
    if not url:
        url, admin, broker_pid, data_dir = start_broker()
    try:
        for workers in args.workers:
            run(workers, url, admin, broker_pid, args)
    finally:
        if data_dir:
            subprocess.run(
                [str(ROOT / "scripts/stop-pulsar"), "--data-dir", data_dir],
                check=False,
                capture_output=True,
            )


if __name__ == "__main__":
    main()
