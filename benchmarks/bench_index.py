"""The workflow index at scale: pages of `list_workflows` among many instances, per storage.

    python benchmarks/bench_index.py [--instances 1000000] [--backends memory sqlite redis mysql]

Fills each storage's index with `--instances` entries (10 workflow names; 70% completed, 20%
running, 9% failed, 1% canceled; one of 1,000 tags each; one start per microsecond step), then
times pages of 100: no filter, by name, by status, by name and status, by tag, by tag and
status; each as a first page and as a page from a cursor in the middle. Prints the median and
the worst of `--repeat` reads, in milliseconds. The fill goes through the backends' own index
writers (the code the engine's saves run), not through whole workflow states.

Redis and MySQL are throwaway servers of the tests' harness (redis-server, MariaDB).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infinitic.storage.base import IndexEntry, IndexQuery, Storage
from infinitic.storage.index import encode_cursor, member

NAMES = [f"Flow{i}" for i in range(10)]
T0 = 1_700_000_000.0
PAGE = 100


def status_of(i: int) -> str:
    r = i % 100
    return "completed" if r < 70 else "running" if r < 90 else "failed" if r < 99 else "canceled"


def entries(n: int) -> Iterator[IndexEntry]:
    for i in range(n):
        yield IndexEntry(
            NAMES[i % 10],
            f"wf-{i:08d}",
            status_of(i),
            frozenset({f"user:{i % 1000}"}),
            T0 + i / 1000,
            T0 + i / 1000,
        )


QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("all", {}),
    ("name", {"name": "Flow3"}),
    ("status=failed", {"status": "failed"}),
    ("name+status", {"name": "Flow3", "status": "running"}),
    ("tag", {"tag": "user:7"}),
    ("tag+status", {"tag": "user:7", "status": "completed"}),
]


async def fill_memory(storage: Storage, n: int) -> None:
    index = storage._index  # type: ignore[attr-defined]
    for entry in entries(n):
        index.put(entry, None)


async def fill_sqlite(storage: Storage, n: int) -> None:
    from infinitic.storage.sqlite import _put_index

    chunk: list[IndexEntry] = []

    async def flush() -> None:
        rows = list(chunk)
        chunk.clear()

        def write(conn: Any) -> None:
            for entry in rows:
                _put_index(conn, entry, None)

        await storage._call_in_writer(write)  # type: ignore[attr-defined]

    for entry in entries(n):
        chunk.append(entry)
        if len(chunk) == 20_000:
            await flush()
    await flush()


async def fill_by_puts(storage: Storage, n: int) -> None:
    """Redis, MySQL: through `put(..., index=)`, concurrently (pipelined / batched)."""
    batch: list[Any] = []
    for i, entry in enumerate(entries(n)):
        batch.append(storage.put(f"bench:{i}", b"x", 0, index=entry))
        if len(batch) == 2000:
            await asyncio.gather(*batch)
            batch.clear()
    await asyncio.gather(*batch)


async def measure(storage: Storage, n: int, repeat: int) -> list[tuple[str, float, float]]:
    middle = n // 2
    cursor = encode_cursor(round((T0 + middle / 1000) * 1_000_000), member("Flow9", "wf-zzz"))
    rows = []
    for label, filters in QUERIES:
        for where, after in (("first page", None), ("mid cursor", cursor)):
            query = IndexQuery.of(limit=PAGE, cursor=after, **filters)
            times = []
            for _ in range(repeat):
                began = time.perf_counter()
                page = await storage.list_index(query)
                times.append((time.perf_counter() - began) * 1000)
            assert page.entries, (label, where)  # a page of at most PAGE (fewer when small)
            rows.append((f"{label}, {where}", statistics.median(times), max(times)))
    return rows


def backend(name: str, stack: ExitStack, tmp: Path) -> tuple[Callable[[], Storage], Any]:
    if name == "memory":
        from infinitic.storage.memory import MemoryStorage

        return MemoryStorage, fill_memory
    if name == "sqlite":
        from infinitic.storage.sqlite import SqliteStorage

        return lambda: SqliteStorage(tmp / "index.db"), fill_sqlite
    if name == "redis":
        from infinitic.storage.redis import from_config
        from tests.storage.redis_server import RedisServer

        server = RedisServer.launch()
        stack.callback(server.stop)
        options = {k: v for k, v in server.storage_options().items() if v is not None}
        return lambda: from_config(options), fill_by_puts
    if name == "mysql":
        from infinitic.storage.mysql import from_config as mysql_config
        from tests.storage.mysql_server import find_server

        found, why = find_server()
        if found is None:
            raise SystemExit(f"no MySQL/MariaDB server: {why}")
        started = found.start()
        stack.callback(started.stop)
        return lambda: mysql_config(started.endpoint.options()), fill_by_puts
    raise SystemExit(f"unknown backend {name}")


async def run(make: Callable[[], Storage], fill: Any, n: int, repeat: int) -> tuple[float, Any]:
    storage = make()
    await storage.start()
    try:
        began = time.perf_counter()
        await fill(storage, n)
        filled = time.perf_counter() - began
        return filled, await measure(storage, n, repeat)
    finally:
        await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--backends",
        nargs="*",
        default=["memory", "sqlite"],
        choices=["memory", "sqlite", "redis", "mysql"],
    )
    args = parser.parse_args()
    print(f"pages of {PAGE} among {args.instances:,} instances (median / worst of {args.repeat})")
    for name in args.backends:
        with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
            make, fill = backend(name, stack, Path(tmp))
            filled, rows = asyncio.run(run(make, fill, args.instances, args.repeat))
            print(f"\n{name} (filled in {filled:.1f} s)")
            for label, median, worst in rows:
                print(f"  {label:<28} {median:8.2f} ms  {worst:8.2f} ms")


if __name__ == "__main__":
    main()
