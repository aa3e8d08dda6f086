"""Micro-benchmarks of the backoff kernel, compiled vs pure-Python twin, grouped by operation.

python -m pytest benchmarks/test_bench_backoff.py --benchmark-only
"""

from __future__ import annotations

import random

import pytest

from tests.helpers.kernels import IMPLEMENTATIONS, BackoffKernel, load

ROUNDS = 1_000  # calls per timed round, so per-call figures are the mean divided by this
RETRIES = [r % 15 for r in range(ROUNDS)]  # 0..14: exponential, truncated, and no retry
_RNG = random.Random(1)
UNITS = [_RNG.random() for _ in range(ROUNDS)]


@pytest.fixture(params=IMPLEMENTATIONS)
def backoff(request: pytest.FixtureRequest) -> BackoffKernel:
    return load("backoff", request.param)  # skips a missing compiled module


@pytest.mark.benchmark(group="backoff.compute_delay x1000")
def test_compute_delay(benchmark, backoff: BackoffKernel) -> None:  # type: ignore[no-untyped-def]
    compute_delay = backoff.compute_delay
    pairs = list(zip(RETRIES, UNITS, strict=True))

    def run() -> float:
        total = 0.0
        for retry, u in pairs:
            total += compute_delay(retry, 1.0, 1000.0, 2.0, 0.5, u)
        return total

    assert benchmark(run) > 0.0


@pytest.mark.benchmark(group="backoff.get_seconds_before_retry x1000")
def test_get_seconds_before_retry(benchmark, backoff: BackoffKernel) -> None:  # type: ignore[no-untyped-def]
    error = RuntimeError("boom")

    def run() -> int:
        policy = backoff.ExponentialBackoff(random=random.Random(42))
        get = policy.get_seconds_before_retry
        retried = 0
        for retry in RETRIES:
            if get(retry, error) is not None:
                retried += 1
        return retried

    assert benchmark(run) == sum(1 for r in RETRIES if r < 11)


@pytest.mark.benchmark(group="backoff.get_seconds_before_retry ignored x1000")
def test_get_seconds_before_retry_with_ignored(benchmark, backoff: BackoffKernel) -> None:  # type: ignore[no-untyped-def]
    policy = backoff.ExponentialBackoff(
        ignored_exceptions=["builtins.KeyError", "my.module.FatalError"], random=random.Random(1)
    )
    get = policy.get_seconds_before_retry
    errors = [ValueError("x"), KeyError("k")] * (ROUNDS // 2)

    def run() -> int:
        return sum(1 for e in errors if get(3, e) is None)

    assert benchmark(run) == ROUNDS // 2
