"""The dashboard's pages among many instances: how long a request takes over HTTP.

    python benchmarks/bench_dashboard.py [--instances 100000] [--backends memory sqlite]

Fills the storage's index with `--instances` entries (bench_index.py's fill: 10 workflow
names, 70% completed, 20% running, 9% failed, 1% canceled), serves the dashboard with uvicorn
on 127.0.0.1, and times `--repeat` sequential GETs per page with httpx (a kept-alive
connection): the list page (first page, by status, by name and status, from a cursor), its JSON
API, and the overview (which counts the newest 10,000 instances and describes the latest
failures: their states are absent here, so that part is not timed; the app reuses an
overview for 2 s, so the figure mixes fresh and cached answers). Prints the median and the
worst, in milliseconds. The goal (issue #16): the list page under 200 ms at 100,000 instances.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from benchmarks.bench_index import T0, backend
from infinitic.client import InfiniticClient
from infinitic.common.runtime import Runtime
from infinitic.storage.index import encode_cursor, member
from infinitic.transport.memory import InMemoryTransport
from infinitic.web import create_app
from infinitic.web.data import overview
from infinitic.web.server import DashboardServer


def pages(n: int) -> list[tuple[str, str]]:
    cursor = encode_cursor(round((T0 + n / 2 / 1000) * 1_000_000), member("Flow9", "wf-zzz"))
    return [
        ("list page", "/workflows"),
        ("list page, status=failed", "/workflows?status=failed"),
        ("list page, name+status", "/workflows?name=Flow3&status=running"),
        ("list page, mid cursor", f"/workflows?cursor={cursor}"),
        ("list page, live fragment", "/workflows?fragment=1"),
        ("api/workflows", "/api/workflows"),
        ("overview (cached 2 s)", "/"),
    ]


def report(label: str, times: list[float]) -> None:
    print(f"  {label:<28} {statistics.median(times):8.2f} ms  {max(times):8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--backends", nargs="*", default=["memory", "sqlite"], choices=["memory", "sqlite"]
    )
    args = parser.parse_args()
    print(
        f"dashboard requests among {args.instances:,} instances (median / worst of {args.repeat})"
    )
    for name in args.backends:
        with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
            make, fill = backend(name, stack, Path(tmp))
            runtime = Runtime.acquire()
            storage = make()
            runtime.run(storage.start())
            runtime.run(fill(storage, args.instances), timeout=None)
            client = InfiniticClient(InMemoryTransport(), runtime, name="bench")
            client._storage = storage
            server = DashboardServer(create_app(client), port=0).start()
            try:
                print(f"\n{name}")
                with httpx.Client(base_url=server.url, timeout=30) as http:
                    for label, path in pages(args.instances):
                        times = []
                        for _ in range(args.repeat):
                            began = time.perf_counter()
                            response = http.get(path)
                            times.append((time.perf_counter() - began) * 1000)
                            assert response.status_code == 200, (path, response.status_code)
                        if "workflows?" in path or path == "/workflows":
                            assert response.text.count("<tr data-id=") == 50, path
                        report(label, times)
                times = []
                for _ in range(5):
                    began = time.perf_counter()
                    overview(client)
                    times.append((time.perf_counter() - began) * 1000)
                report("overview, computed afresh", times)
            finally:
                server.close()
                client.close()
                runtime.run(storage.close())
                runtime.release()


if __name__ == "__main__":
    main()
