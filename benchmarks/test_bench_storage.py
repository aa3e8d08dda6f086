"""Storage micro-benchmarks: get / put / compare-and-set on memory and SQLite.

    python -m pytest benchmarks/test_bench_storage.py --benchmark-only -q
    python benchmarks/test_bench_storage.py [--ops 5000] [--uvloop]   # plain ops/s table

Each benchmark round runs a whole batch of operations in one coroutine (so the cost of entering
the event loop is not measured); ``extra_info["ops_per_s"]`` is the throughput of the last round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infinitic.storage.base import Storage
from infinitic.storage.memory import MemoryStorage
from infinitic.storage.sqlite import SqliteStorage

VALUE = os.urandom(512)  # a small workflow state
BATCH = 500  # operations per benchmark round
CONCURRENCY = 1000

BACKENDS: dict[str, Callable[[Path], Storage]] = {
    "memory": lambda d: MemoryStorage(),
    "sqlite-normal": lambda d: SqliteStorage(d / "bench.db"),
    "sqlite-full": lambda d: SqliteStorage(d / "bench.db", synchronous="FULL"),
    "sqlite-inline-reads": lambda d: SqliteStorage(d / "bench.db", read_threads=0),
}


# --- the workloads (shared by pytest-benchmark and the plain script) ---------------------------


async def seed(s: Storage, n: int) -> list[str]:
    keys = [f"workflow.state.{i:08d}" for i in range(n)]
    for i in range(0, n, 500):
        await s.put_many([(k, VALUE, 0) for k in keys[i : i + 500]])
    return keys


async def gets_sequential(s: Storage, keys: list[str], n: int) -> None:
    for i in range(n):
        await s.get(keys[i % len(keys)])


async def gets_concurrent(s: Storage, keys: list[str], n: int) -> None:
    await asyncio.gather(*(s.get(keys[i % len(keys)]) for i in range(n)))


class Chains:
    """Per-key compare-and-set chains: each put expects the version the last one returned."""

    def __init__(self, prefix: str, width: int) -> None:
        self.keys = [f"{prefix}.{i}" for i in range(width)]
        self.versions = [0] * width

    async def one(self, s: Storage, i: int) -> None:
        self.versions[i] = await s.put(self.keys[i], VALUE, self.versions[i])

    async def sequential(self, s: Storage, n: int) -> None:
        for j in range(n):
            await self.one(s, j % len(self.keys))

    async def concurrent(self, s: Storage, n: int) -> None:
        """`n` puts by len(keys) coroutines at a time, each on its own key."""
        width = len(self.keys)
        for start in range(0, n, width):
            await asyncio.gather(*(self.one(s, i) for i in range(min(width, n - start))))


async def cas_increments(s: Storage, key: str, writers: int, each: int) -> int:
    """`writers` coroutines incrementing one counter with retry on conflict; returns conflicts."""
    conflicts = 0

    async def writer() -> None:
        nonlocal conflicts
        for _ in range(each):
            while True:
                cur = await s.get(key)
                value, version = (0, 0) if cur is None else (int(cur[0]), cur[1])
                try:
                    await s.put(key, str(value + 1).encode(), version)
                    break
                except Exception:
                    conflicts += 1

    await asyncio.gather(*(writer() for _ in range(writers)))
    return conflicts


# --- pytest-benchmark --------------------------------------------------------------------------


@pytest.fixture(params=list(BACKENDS))
def env(request: pytest.FixtureRequest) -> Iterator[tuple[asyncio.AbstractEventLoop, Storage]]:
    with tempfile.TemporaryDirectory() as tmp:
        loop = asyncio.new_event_loop()
        storage = BACKENDS[request.param](Path(tmp))
        loop.run_until_complete(storage.start())
        try:
            yield loop, storage
        finally:
            loop.run_until_complete(storage.close())
            loop.close()


def measure(
    benchmark: Any, loop: asyncio.AbstractEventLoop, work: Callable[[], Awaitable[None]], n: int
) -> None:
    def once() -> None:
        loop.run_until_complete(work())

    benchmark.pedantic(once, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info["ops_per_round"] = n
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["ops_per_s"] = round(n / benchmark.stats.stats.mean)


def test_get_sequential(benchmark: Any, env: tuple[asyncio.AbstractEventLoop, Storage]) -> None:
    loop, s = env
    keys = loop.run_until_complete(seed(s, 1000))
    measure(benchmark, loop, lambda: gets_sequential(s, keys, BATCH), BATCH)


def test_get_concurrent(benchmark: Any, env: tuple[asyncio.AbstractEventLoop, Storage]) -> None:
    loop, s = env
    keys = loop.run_until_complete(seed(s, 1000))
    measure(benchmark, loop, lambda: gets_concurrent(s, keys, CONCURRENCY), CONCURRENCY)


def test_put_cas_sequential(benchmark: Any, env: tuple[asyncio.AbstractEventLoop, Storage]) -> None:
    loop, s = env
    chains = Chains("seq", 100)
    measure(benchmark, loop, lambda: chains.sequential(s, BATCH), BATCH)


def test_put_cas_concurrent(benchmark: Any, env: tuple[asyncio.AbstractEventLoop, Storage]) -> None:
    loop, s = env
    chains = Chains("conc", CONCURRENCY)
    measure(benchmark, loop, lambda: chains.concurrent(s, CONCURRENCY), CONCURRENCY)


def test_cas_increment_contended(
    benchmark: Any, env: tuple[asyncio.AbstractEventLoop, Storage]
) -> None:
    loop, s = env

    async def work() -> None:
        await cas_increments(s, "counter", 20, 10)

    measure(benchmark, loop, work, 200)


# --- plain throughput script -------------------------------------------------------------------


async def throughput(name: str, make: Callable[[Path], Storage], ops: int) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        s = make(Path(tmp))
        await s.start()
        try:
            keys = await seed(s, 1000)

            async def timed(label: str, work: Awaitable[Any], n: int) -> None:
                t0 = time.perf_counter()
                await work
                results[label] = n / (time.perf_counter() - t0)

            seq_ops = ops if name.startswith("memory") or "full" not in name else ops // 10
            await timed("get 1-at-a-time", gets_sequential(s, keys, ops), ops)
            await timed(f"get x{CONCURRENCY}", gets_concurrent(s, keys, ops), ops)
            await timed("CAS put 1-at-a-time", Chains("s", 100).sequential(s, seq_ops), seq_ops)
            await timed(f"CAS put x{CONCURRENCY}", Chains("c", CONCURRENCY).concurrent(s, ops), ops)
            await timed("CAS incr 20 writers", cas_increments(s, "n", 20, 50), 1000)
            if isinstance(s, SqliteStorage):
                results["writes/txn"] = s.stats.writes / max(s.stats.transactions, 1)
        finally:
            await s.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--backend", action="append", choices=list(BACKENDS))
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.install()
    for name in args.backend or list(BACKENDS):
        results = asyncio.run(throughput(name, BACKENDS[name], args.ops))
        cells = "  ".join(f"{label}: {value:,.0f}" for label, value in results.items())
        print(f"{name:>20}  {cells}")


if __name__ == "__main__":
    main()
