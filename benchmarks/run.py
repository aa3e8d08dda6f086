"""The whole benchmark suite in one command: micro (compiled vs twin), end to end on every home,
and the peers; writes a JSON report and prints (and writes next to it) markdown tables.

    python benchmarks/run.py --out report.json              # full sizes
    python benchmarks/run.py --out report.json --quick      # --scale 0.1, short micro rounds
    python benchmarks/run.py --out r.json --homes memory sqlite --workloads a b --no-micro

Homes: memory (in-memory transport and storage), sqlite (in-memory transport, SQLite state),
sqlite-transport (SQLite transport and state in one file, the worker in 1 and in 2 processes of
its own beside the client's: --worker-processes; also idle CPU per process over 10 s), pulsar-redis, pulsar-mysql (a real Pulsar broker from scripts/start-pulsar, Redis and MariaDB
started on free loopback ports by the tests' harnesses). Each workload runs in its own process
(benchmarks/e2e.py) under a time budget; past it the figures are the part that finished.
Peers (benchmarks/peers/, `pip install -e ".[bench]"`, or --peer-python for an interpreter that
has them) run workloads (a) and (b) with the same sizes and budget.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import report as rp  # noqa: E402
from benchmarks.e2e import OBSERVE_ENV  # noqa: E402
from benchmarks.fleet import cpu_seconds  # noqa: E402

FULL_SIZES = {"a": 10_000, "b": 10_000, "c": 1_000, "d": 1_000}
HOMES = ["memory", "sqlite", "sqlite-transport", "pulsar-redis", "pulsar-mysql"]
PEERS = ["dbos", "edda"]
MICRO_FILES = [
    "benchmarks/test_bench_envelope.py",
    "benchmarks/test_bench_backoff.py",
    "benchmarks/test_bench_replay.py",
    "benchmarks/test_bench_serialization.py",
    "benchmarks/test_bench_events.py",
]
# a child may take this long beyond its budget (start, warm-up, a broker's first topics)
GRACE_S = 240


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0]
        info["memory_gib"] = round(int(meminfo.split()[1]) / 1024**2, 1)
        models = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        info["cpu"] = models[0] if models else None
    except OSError:
        pass
    return info


def git_state() -> dict[str, Any]:
    exported = os.environ.get("INFINITIC_BENCH_COMMIT")  # a run from `git archive` output
    if exported:
        return {"commit": exported, "dirty_files": [], "exported_tree": str(ROOT)}

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:]]
    return {"commit": git("rev-parse", "HEAD") or None, "dirty_files": dirty}


def run_child(
    command: list[str], timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Runs one benchmark process; its last stdout line is its JSON result."""
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {timeout:g} s (budget and start-up grace spent)"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: {' / '.join(tail)[-300:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


class Servers:
    """Starts what the homes need once, on first use, and stops it all at the end."""

    def __init__(self, stack: ExitStack, folder: Path) -> None:
        self._stack = stack
        self._folder = folder
        self.folder = folder
        self._cache: dict[str, Any] = {}
        self.broker_pid: int | None = None

    def _once(self, key: str, start: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = start()
        return self._cache[key]

    def pulsar(self) -> dict[str, Any]:
        def start() -> dict[str, Any]:
            url = os.environ.get("INFINITIC_PULSAR_URL")
            admin = os.environ.get("INFINITIC_PULSAR_ADMIN_URL", "http://127.0.0.1:8080")
            if url and os.environ.get("INFINITIC_PULSAR_PID"):
                # a shared broker: its CPU counts everyone's use, ours included
                self.broker_pid = int(os.environ["INFINITIC_PULSAR_PID"])
            if not url:
                from benchmarks.e2e_pulsar import start_broker

                url, admin, self.broker_pid, data_dir = start_broker()
                # callbacks run last-in first-out: the broker stops, then its data goes
                self._stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
                self._stack.callback(
                    subprocess.run,
                    [str(ROOT / "scripts/stop-pulsar"), "--data-dir", data_dir],
                    check=False,
                    capture_output=True,
                )
            return {"pulsar": {"brokerServiceUrl": url, "webServiceUrl": admin, "tenant": "bench"}}

        return dict(self._once("pulsar", start))

    def redis(self) -> dict[str, Any]:
        def start() -> dict[str, Any]:
            from tests.storage.redis_server import RedisServer

            server = RedisServer.launch()
            self._stack.callback(server.stop)
            options = {k: v for k, v in server.storage_options().items() if v is not None}
            return {"redis": options}

        return dict(self._once("redis", start))

    def mysql(self) -> dict[str, Any]:
        def start() -> dict[str, Any]:
            from tests.storage.mysql_server import find_server

            found, why = find_server()
            if found is None:
                raise RuntimeError(f"no MySQL/MariaDB server: {why}")
            server = found.start()
            self._stack.callback(server.stop)
            return {"mysql": server.endpoint.options()}

        return dict(self._once("mysql", start))

    def home(self, name: str, workload: str) -> tuple[Any, Any]:
        """(transport, storage) configs of a home; SQLite gets a fresh file per workload."""
        if name == "memory":
            return "inMemory", "inMemory"
        if name == "sqlite":
            return "inMemory", {"sqlite": {"path": str(self._folder / f"{workload}.db")}}
        if name.startswith("sqlite-transport"):  # messages and state in one file
            path = str(self._folder / f"{workload}-{name}.db")
            return {"sqlite": {"path": path}}, {"sqlite": {"path": path}}
        if name == "pulsar-redis":
            return self.pulsar(), self.redis()
        if name == "pulsar-mysql":
            return self.pulsar(), self.mysql()
        raise ValueError(f"unknown home {name!r}: one of {', '.join(HOMES)}")


def run_micro(quick: bool, out_dir: Path) -> dict[str, Any]:
    json_path = out_dir / "micro.json"
    command = [sys.executable, "-m", "pytest", *MICRO_FILES, "-q", "-p", "no:cacheprovider"]
    command += ["--benchmark-only", f"--benchmark-json={json_path}"]
    if quick:
        command += ["--benchmark-max-time=0.05", "--benchmark-min-rounds=3"]
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = round(time.perf_counter() - t0, 1)
    if done.returncode != 0 or not json_path.exists():
        return {"error": f"pytest exit {done.returncode}: {done.stdout[-500:]}", "seconds": seconds}
    raw = json.loads(json_path.read_text())["benchmarks"]
    benchmarks = [
        {
            "name": b["name"],
            "group": b["group"],
            "flavour": rp.pair_key(b["name"])[1],
            "min_s": b["stats"]["min"],
            "mean_s": b["stats"]["mean"],
            "rounds": b["stats"]["rounds"],
            "extra_info": b.get("extra_info") or {},
        }
        for b in raw
    ]
    pairs = [
        {"name": n, "compiled_min_s": c, "twin_min_s": py, "ratio": round(r, 2)}
        for n, c, py, r in rp.ratios(raw)
    ]
    return {"seconds": seconds, "benchmarks": benchmarks, "ratios": pairs}


def peer_ratios(e2e: list[dict[str, Any]], peers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for ours in e2e:
        for peer in peers:
            if (
                ours["workload"] == peer["workload"]
                and ours.get("per_second")
                and peer.get("per_second")
                and ours["home"] in ("memory", "sqlite")
            ):
                rows.append(
                    {
                        "home": ours["home"],
                        "peer": peer["peer"],
                        "workload": ours["workload"],
                        "ratio": round(ours["per_second"] / peer["per_second"], 2),
                        "both_finished": bool(ours["finished"] and peer["finished"]),
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON report to write")
    parser.add_argument("--quick", action="store_true", help="--scale 0.1 and short micro rounds")
    parser.add_argument("--scale", type=float, help="size factor of the workloads (default 1)")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per workload")
    parser.add_argument("--homes", nargs="*", default=HOMES, choices=HOMES)
    parser.add_argument(
        "--workloads", nargs="*", default=list(FULL_SIZES), choices=list(FULL_SIZES)
    )
    parser.add_argument("--kernels", nargs="*", default=["c"], choices=["c", "py"])
    parser.add_argument("--no-micro", action="store_true")
    parser.add_argument(
        "--worker-processes",
        nargs="*",
        type=int,
        default=[1, 2],
        help="worker processes of the sqlite-transport home (the client runs in another)",
    )
    parser.add_argument("--peers", nargs="*", default=PEERS, choices=PEERS)
    parser.add_argument("--peer-python", default=sys.executable, help="interpreter with the peers")
    parser.add_argument(
        "--observe",
        action="store_true",
        help="workers with an event listener and /metrics (what observing costs)",
    )
    parser.add_argument(
        "--observe-cost",
        type=int,
        default=0,
        metavar="N",
        help="what an event listener costs: each workload N times without and N times with "
        "one (workloads.CountingListener), interleaved in this run; medians and their ratio",
    )
    args = parser.parse_args()
    if args.observe:
        os.environ[OBSERVE_ENV] = "1"  # read by e2e.worker_config in each child
    scale = args.scale if args.scale is not None else (0.1 if args.quick else 1.0)
    sizes = {w: max(1, round(n * scale)) for w, n in FULL_SIZES.items() if w in args.workloads}
    folder = Path(tempfile.mkdtemp(prefix="infinitic-bench-"))
    report: dict[str, Any] = {
        "meta": {
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(),
            "loadavg_at_start": os.getloadavg(),
            "git": git_state(),
            "scale": scale,
            "sizes": sizes,
            "budget_s": args.budget,
            "observe": args.observe,
            "observe_cost": args.observe_cost,
        },
        "e2e": [],
        "peers": [],
    }
    if not args.no_micro:
        print("micro benchmarks ...", file=sys.stderr, flush=True)
        report["micro"] = run_micro(args.quick, folder)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        servers = Servers(stack, folder)
        for home, processes in [
            (h, n)
            for h in args.homes
            for n in (args.worker_processes if h == "sqlite-transport" else [0])
        ]:
            for kernel in args.kernels:
                for workload, size in sizes.items():
                    print(f"{home} {workload} x{size} ({kernel}) ...", file=sys.stderr, flush=True)
                    if args.observe_cost:
                        cost = observe_cost(servers, home, workload, size, args, kernel, processes)
                        report.setdefault("observe_cost", []).append(cost)
                        print(f"  {json.dumps(cost)}", file=sys.stderr, flush=True)
                        continue
                    row = run_home(servers, home, workload, size, args.budget, kernel, processes)
                    report["e2e"].append({"home": home, **row})
                    print(f"  {json.dumps(report['e2e'][-1])}", file=sys.stderr, flush=True)
        for peer in args.peers:
            for workload in [w for w in ("a", "b") if w in sizes]:
                print(f"peer {peer} {workload} x{sizes[workload]} ...", file=sys.stderr, flush=True)
                report["peers"].append(run_peer(args, peer, workload, sizes[workload]))
                print(f"  {json.dumps(report['peers'][-1])}", file=sys.stderr, flush=True)
    ok = [r for r in report["e2e"] if "error" not in r]
    report["ratios_vs_peers"] = peer_ratios(ok, [p for p in report["peers"] if "error" not in p])
    report["meta"]["loadavg_at_end"] = os.getloadavg()
    report["meta"]["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    tables = tables_of(report)
    args.out.with_suffix(".md").write_text("\n".join(tables) + "\n")
    print("\n".join(tables))


def run_home(
    servers: Servers,
    home: str,
    workload: str,
    size: int,
    budget: float,
    kernel: str,
    processes: int = 0,
    observe: str | None = None,
) -> dict[str, Any]:
    """`processes` > 0: the worker runs in that many processes of its own, beside the client's
    (the home's row is named for it)."""
    label = f"{home} ({processes} worker process{'es' if processes > 1 else ''})"
    try:
        transport, storage = servers.home(f"{home}-{processes}" if processes else home, workload)
    except Exception as exc:  # a server that cannot start: say so in the report, go on
        return {"workload": workload, "size": size, "error": f"{type(exc).__name__}: {exc}"}
    pid = servers.broker_pid if home.startswith("pulsar") else None
    broker0 = cpu_seconds(pid) if pid else None
    command = [sys.executable, "-m", "benchmarks.e2e", "--workload", workload]
    command += ["--size", str(size), "--budget", str(budget)]
    env = {"INFINITIC_BENCH_TRANSPORT": json.dumps(transport)}
    env["INFINITIC_BENCH_STORAGE"] = json.dumps(storage)  # not in argv: it may hold a password
    if kernel == "py":
        env["INFINITIC_NO_EXTENSIONS"] = "1"
    if observe is not None:
        env[OBSERVE_ENV] = observe
    if processes:
        command += ["--worker-processes", str(processes)]
        command += ["--folder", str(servers.folder / f"{workload}-{processes}-logs")]
    row = run_child(command, budget + GRACE_S, env)
    if processes:
        row["home"] = label
    row.setdefault("workload", workload)
    row.setdefault("size", size)
    if pid and broker0 is not None:
        row["broker_cpu_s"] = round(cpu_seconds(pid) - broker0, 2)
    return row


def observe_cost(
    servers: Servers,
    home: str,
    workload: str,
    size: int,
    args: argparse.Namespace,
    kernel: str,
    processes: int,
) -> dict[str, Any]:
    """The workload `args.observe_cost` times without a listener and as many with one,
    alternating (so both see the same load on a shared machine): median throughput and CPU
    per unit of each, and with/without."""
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "events": []}
    for _ in range(args.observe_cost):
        for mode in runs:
            row = run_home(
                servers, home, workload, size, args.budget, kernel, processes,
                observe="events" if mode == "events" else "",
            )  # fmt: skip
            if "error" not in row:
                runs[mode].append(row)

    def median(mode: str, key: str) -> float | None:
        values = sorted(r[key] for r in runs[mode] if r.get(key))
        return values[len(values) // 2] if values else None

    cost: dict[str, Any] = {"home": home, "workload": workload, "size": size, "kernel": kernel}
    for key in ("per_second", "cpu_ms_per_unit"):
        off, on = median("off", key), median("events", key)
        cost[key] = {"off": off, "events": on, "ratio": round(on / off, 3) if off and on else None}
    cost["runs"] = {mode: len(rows) for mode, rows in runs.items()}
    cost["events_heard"] = [r.get("events_heard") for r in runs["events"]]
    return cost


def run_peer(args: argparse.Namespace, peer: str, workload: str, size: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{peer}-"))
    try:
        script = ROOT / "benchmarks" / "peers" / f"{peer}_peer.py"
        command = [args.peer_python, str(script), "--workload", workload, "--size", str(size)]
        command += ["--budget", str(args.budget), "--folder", str(folder)]
        row = run_child(command, args.budget + GRACE_S)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"peer": peer, "workload": workload, "size": size, **row}


def tables_of(report: dict[str, Any]) -> list[str]:
    meta = report["meta"]
    m = meta["machine"]
    lines = [
        f"# Benchmark report {meta['started_at']}",
        "",
        f"`{meta['command']}`; commit {str(meta['git']['commit'])[:10]}"
        + (
            f" plus {len(meta['git']['dirty_files'])} uncommitted files"
            if meta["git"]["dirty_files"]
            else ""
        ),
        f"Machine: {m.get('cpus')} CPUs ({m.get('cpu')}), {m.get('memory_gib')} GiB, Python {m['python']}; "
        f"load average {meta['loadavg_at_start'][0]:.1f} at start, {meta['loadavg_at_end'][0]:.1f} at end.",
        f"Sizes (scale {meta['scale']:g}): {meta['sizes']}; budget {meta['budget_s']:g} s per workload.",
        "",
        "## End to end",
        "",
        *rp.e2e_table(report["e2e"] + report["peers"]),
    ]
    if report.get("observe_cost"):
        lines += ["", "## What an event listener costs (--observe-cost)", ""]
        lines += [
            "| home | workload | per s without / with | ratio | CPU ms per unit without / with | ratio |",
            "|---|---|---|---|---|---|",
        ]
        for c in report["observe_cost"]:
            ps, cpu = c["per_second"], c["cpu_ms_per_unit"]
            lines.append(
                f"| {c['home']} | {c['workload']} | {ps['off']} / {ps['events']} | {ps['ratio']} "
                f"| {cpu['off']} / {cpu['events']} | {cpu['ratio']} |"
            )
    idle = rp.idle_table(report["e2e"])
    if idle:
        lines += ["", "## Idle CPU per process (multi-process homes)", "", *idle]
    if report["ratios_vs_peers"]:
        lines += ["", "## Ours / peers", "", *rp.peer_table(report["ratios_vs_peers"])]
    if "micro" in report:
        lines += ["", "## Micro (compiled vs twin)", ""]
        if "error" in report["micro"]:
            lines.append(report["micro"]["error"])
        else:
            lines += rp.micro_table(report)
    return lines


if __name__ == "__main__":
    main()
