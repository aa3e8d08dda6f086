"""Redis storage micro-benchmarks: get / CAS put / contended CAS, one at a time and concurrent.

    python -m pytest benchmarks/test_bench_storage_redis.py --benchmark-only -q
    python benchmarks/test_bench_storage_redis.py [--ops 5000] [--uvloop] [--pool-size 16]

The server is a throwaway ``redis-server`` on a free loopback port (the tests' harness), or the
one of ``INFINITIC_REDIS_URL``. The workloads are those of `benchmarks/test_bench_storage.py`
(512-byte values), so the figures compare with memory and SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
from tests.storage.redis_server import URL_VARIABLE, RedisServer

try:
    from infinitic.storage.redis import RedisStorage
except ImportError:  # pragma: no cover
    pytest.skip("pip install 'infinitic[redis]'", allow_module_level=True)


def start_server() -> tuple[RedisServer, bool]:
    """(server, owned): INFINITIC_REDIS_URL's, else a throwaway one."""
    url = os.environ.get(URL_VARIABLE)
    if url:
        return RedisServer.from_url(url), False
    return RedisServer.launch(), True


def new_storage(server: RedisServer, pool_size: int = 16) -> RedisStorage:
    return RedisStorage(
        **server.storage_options(), key_prefix=f"bench-{uuid.uuid4().hex[:8]}:", pool_size=pool_size
    )


# --- pytest-benchmark --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    if not os.environ.get(URL_VARIABLE) and shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    found, owned = start_server()
    try:
        yield found
    finally:
        if owned:
            found.stop()


@pytest.fixture
def env(server: RedisServer) -> Iterator[tuple[asyncio.AbstractEventLoop, RedisStorage]]:
    loop = asyncio.new_event_loop()
    storage = new_storage(server)
    loop.run_until_complete(storage.start())
    try:
        yield loop, storage
    finally:
        loop.run_until_complete(storage.close())
        loop.close()


def test_redis_get_sequential(
    benchmark: Any, env: tuple[asyncio.AbstractEventLoop, RedisStorage]
) -> None:
    loop, s = env
    keys = loop.run_until_complete(seed(s, 1000))
    measure(benchmark, loop, lambda: gets_sequential(s, keys, BATCH), BATCH)


def test_redis_get_concurrent(
    benchmark: Any, env: tuple[asyncio.AbstractEventLoop, RedisStorage]
) -> None:
    loop, s = env
    keys = loop.run_until_complete(seed(s, 1000))
    measure(benchmark, loop, lambda: gets_concurrent(s, keys, CONCURRENCY), CONCURRENCY)


def test_redis_put_cas_sequential(
    benchmark: Any, env: tuple[asyncio.AbstractEventLoop, RedisStorage]
) -> None:
    loop, s = env
    chains = Chains("seq", 100)
    measure(benchmark, loop, lambda: chains.sequential(s, BATCH), BATCH)


def test_redis_put_cas_concurrent(
    benchmark: Any, env: tuple[asyncio.AbstractEventLoop, RedisStorage]
) -> None:
    loop, s = env
    chains = Chains("conc", CONCURRENCY)
    measure(benchmark, loop, lambda: chains.concurrent(s, CONCURRENCY), CONCURRENCY)


def test_redis_cas_increment_contended(
    benchmark: Any, env: tuple[asyncio.AbstractEventLoop, RedisStorage]
) -> None:
    loop, s = env

    async def work() -> None:
        await cas_increments(s, "counter", 20, 10)

    measure(benchmark, loop, work, 200)


# --- plain throughput script -------------------------------------------------------------------


async def throughput(server: RedisServer, ops: int, pool_size: int) -> dict[str, float]:
    results: dict[str, float] = {}
    async with new_storage(server, pool_size) as s:
        keys = await seed(s, 1000)

        async def timed(label: str, work: Awaitable[Any], n: int) -> None:
            t0 = time.perf_counter()
            await work
            results[label] = n / (time.perf_counter() - t0)

        await timed("get 1-at-a-time", gets_sequential(s, keys, ops), ops)
        await timed(f"get x{CONCURRENCY}", gets_concurrent(s, keys, ops), ops)
        await timed("CAS put 1-at-a-time", Chains("s", 100).sequential(s, ops), ops)
        await timed(f"CAS put x{CONCURRENCY}", Chains("c", CONCURRENCY).concurrent(s, ops), ops)
        await timed("CAS incr 20 writers", cas_increments(s, "n", 20, 50), 1000)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--pool-size", type=int, action="append")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.install()
    server, owned = start_server()
    try:
        for pool_size in args.pool_size or [16]:
            results = asyncio.run(throughput(server, args.ops, pool_size))
            cells = "  ".join(f"{label}: {value:,.0f}" for label, value in results.items())
            print(f"redis pool={pool_size:<4} {cells}")
    finally:
        if owned:
            server.stop()


if __name__ == "__main__":
    main()
