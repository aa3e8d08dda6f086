"""MySQL storage micro-benchmarks: get / CAS put, one at a time and 1,000 concurrent.

    python -m pytest benchmarks/test_bench_storage_mysql.py --benchmark-only -q
    python -m benchmarks.test_bench_storage_mysql [--ops 5000] [--pool-size 4]   # ops/s table

A throwaway MariaDB is started by tests/storage/mysql_server.py (durable commits:
innodb_flush_log_at_trx_commit=1), or INFINITIC_MYSQL_URL is used; without either the
benchmarks are skipped. The workloads are those of benchmarks/test_bench_storage.py.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from benchmarks.test_bench_storage import (
    BATCH,
    CONCURRENCY,
    Chains,
    cas_increments,
    gets_concurrent,
    gets_sequential,
    measure,
    seed,
)
from tests.storage.mysql_server import Endpoint, Server, find_server

pytestmark = pytest.mark.mysql


def make_storage(endpoint: Endpoint, pool_size: int = 4) -> Any:
    from infinitic.storage.mysql import from_config

    return from_config(endpoint.options(poolSize=pool_size))


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    found, why = find_server()
    if found is None:
        pytest.skip(why)
    found.start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def env(server: Server) -> Iterator[tuple[asyncio.AbstractEventLoop, Any]]:
    with server.endpoint.fresh_database() as endpoint:
        loop = asyncio.new_event_loop()
        storage = make_storage(endpoint)
        loop.run_until_complete(storage.start())
        try:
            yield loop, storage
        finally:
            loop.run_until_complete(storage.close())
            loop.close()


def test_mysql_get_sequential(benchmark: Any, env: tuple[asyncio.AbstractEventLoop, Any]) -> None:
    loop, s = env
    keys = loop.run_until_complete(seed(s, 1000))
    measure(benchmark, loop, lambda: gets_sequential(s, keys, BATCH), BATCH)


def test_mysql_get_concurrent(benchmark: Any, env: tuple[asyncio.AbstractEventLoop, Any]) -> None:
    loop, s = env
    keys = loop.run_until_complete(seed(s, 1000))
    measure(benchmark, loop, lambda: gets_concurrent(s, keys, CONCURRENCY), CONCURRENCY)


def test_mysql_put_cas_sequential(
    benchmark: Any, env: tuple[asyncio.AbstractEventLoop, Any]
) -> None:
    loop, s = env
    chains = Chains("seq", 100)
    measure(benchmark, loop, lambda: chains.sequential(s, BATCH), BATCH)


def test_mysql_put_cas_concurrent(
    benchmark: Any, env: tuple[asyncio.AbstractEventLoop, Any]
) -> None:
    loop, s = env
    chains = Chains("conc", CONCURRENCY)
    measure(benchmark, loop, lambda: chains.concurrent(s, CONCURRENCY), CONCURRENCY)


def test_mysql_cas_increment_contended(
    benchmark: Any, env: tuple[asyncio.AbstractEventLoop, Any]
) -> None:
    loop, s = env

    async def work() -> None:
        await cas_increments(s, "counter", 20, 10)

    measure(benchmark, loop, work, 200)


# --- plain throughput script -------------------------------------------------------------------


async def throughput(endpoint: Endpoint, ops: int, pool_size: int) -> dict[str, float]:
    results: dict[str, float] = {}
    s = make_storage(endpoint, pool_size)
    await s.start()
    try:
        keys = await seed(s, 1000)

        async def timed(label: str, work: Awaitable[Any], n: int) -> None:
            t0 = time.perf_counter()
            await work
            results[label] = n / (time.perf_counter() - t0)

        seq = max(ops // 5, 100)
        await timed("get 1-at-a-time", gets_sequential(s, keys, seq), seq)
        await timed(f"get x{CONCURRENCY}", gets_concurrent(s, keys, ops), ops)
        await timed("CAS put 1-at-a-time", Chains("s", 100).sequential(s, seq), seq)
        await timed(f"CAS put x{CONCURRENCY}", Chains("c", CONCURRENCY).concurrent(s, ops), ops)
        await timed("CAS incr 20 writers", cas_increments(s, "n", 20, 25), 500)
        results["writes/txn"] = s.stats.writes / max(s.stats.transactions, 1)
    finally:
        await s.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--pool-size", type=int, default=4)
    args = parser.parse_args()
    found, why = find_server()
    if found is None:
        raise SystemExit(why)
    found.start()
    try:
        with found.endpoint.fresh_database() as endpoint:
            results = asyncio.run(throughput(endpoint, args.ops, args.pool_size))
    finally:
        found.stop()
    cells = "  ".join(f"{label}: {value:,.0f}" for label, value in results.items())
    print(f"mysql (poolSize={args.pool_size})  {cells}")


if __name__ == "__main__":
    main()
