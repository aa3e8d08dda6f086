"""Micro-benchmarks of the replay kernel, compiled vs pure-Python twin, grouped by history length.

One timed round is a full replay pass of an n-step sequential workflow, as the workflow-task
executor does it: build the History of n completed task commands (`add`), then for each
position check the re-created command (`mismatch`, strict mode) and evaluate its await
(`evaluate(("c", i), as_of)`). extra_info["per_command_us"] is the mean round time divided by
n, i.e. the cost per past command in microseconds ("per_command_us_min" from the fastest
round); both are in the JSON report (--benchmark-json) and printed with -s.

python -m pytest benchmarks/test_bench_replay.py --benchmark-only
"""

from __future__ import annotations

import pytest

from tests.helpers.kernels import IMPLEMENTATIONS, ReplayKernel, load

LENGTHS = [10, 100, 1_000, 10_000]
TARGETS = [f"Service{i % 7}.method{i % 3}" for i in range(LENGTHS[-1])]
HASHES = [f"{i:016x}" for i in range(LENGTHS[-1])]


@pytest.fixture(params=IMPLEMENTATIONS)
def replay(request: pytest.FixtureRequest) -> ReplayKernel:
    return load("replay", request.param)  # skips a missing compiled module


def _replay_pass(replay: ReplayKernel, n: int) -> int:
    history = replay.History()
    add = history.add
    completed = replay.COMPLETED
    strict = replay.CHECK_STRICT
    # command i was completed by the event at index 2i + 1 (dispatch at 2i)
    for i in range(n):
        add("task", TARGETS[i], HASHES[i], completed, 2 * i + 1)
    mismatch = history.mismatch
    evaluate = history.evaluate
    as_of = 2 * n
    done = 0
    for i in range(n):
        if mismatch(i, "task", TARGETS[i], HASHES[i], strict) is not None:
            raise AssertionError(i)
        if evaluate(("c", i), as_of)[0] == completed:
            done += 1
    return done


@pytest.mark.parametrize("n", LENGTHS, ids=[f"n={n}" for n in LENGTHS])
def test_replay_pass(benchmark, replay: ReplayKernel, n: int) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"replay pass, history of {n:,}"
    if n >= 10_000:
        result = benchmark.pedantic(_replay_pass, args=(replay, n), rounds=5, iterations=1)
    elif n >= 1_000:
        result = benchmark.pedantic(_replay_pass, args=(replay, n), rounds=20, iterations=1)
    else:
        result = benchmark(_replay_pass, replay, n)
    assert result == n
    stats = benchmark.stats
    if stats is not None:  # None under --benchmark-disable
        mean_us = stats.stats.mean / n * 1e6
        min_us = stats.stats.min / n * 1e6
        benchmark.extra_info["per_command_us"] = round(mean_us, 3)
        benchmark.extra_info["per_command_us_min"] = round(min_us, 3)
        flavour = replay.__name__.rsplit("_", 1)[1]
        print(f"\nreplay {flavour} n={n}: {mean_us:.3f} us/command (mean), {min_us:.3f} (min)")
