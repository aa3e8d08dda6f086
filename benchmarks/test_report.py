"""The report helpers of run.py and compare.py: what a reader of the tables relies on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.compare import compare, load
from benchmarks.report import pair_key, ratios


@pytest.mark.parametrize(
    ("name", "key", "flavour"),
    [
        ("test_encode[c-ExecuteTask]", "test_encode[ExecuteTask]", "c"),
        ("test_encode[py-ExecuteTask]", "test_encode[ExecuteTask]", "py"),
        ("test_replay_pass[py-n=100]", "test_replay_pass[n=100]", "py"),
        ("test_compute_delay[c]", "test_compute_delay", "c"),
        ("test_encode_args[dataclass]", "test_encode_args[dataclass]", None),
        ("test_get[sqlite-normal]", "test_get[sqlite-normal]", None),
    ],
)
def test_pair_key_strips_only_the_kernel_parameter(
    name: str, key: str, flavour: str | None
) -> None:
    assert pair_key(name) == (key, flavour)


def test_ratios_pair_compiled_and_twin_and_skip_the_unpaired() -> None:
    entries = [
        {"name": "test_x[c-A]", "stats": {"min": 0.001}},
        {"name": "test_x[py-A]", "stats": {"min": 0.004}},
        {"name": "test_x[py-B]", "stats": {"min": 0.004}},  # no compiled run: no ratio
        {"name": "test_plain", "stats": {"min": 0.002}},
    ]
    assert ratios(entries) == [("test_x[A]", 0.001, 0.004, 4.0)]


def _report(per_second: float, p50: float, sizes: dict[str, int]) -> dict[str, Any]:
    row = {"home": "memory", "workload": "a", "per_second": per_second, "p50_ms": p50}
    return {"meta": {"sizes": sizes, "budget_s": 60, "scale": 1}, "e2e": [row], "peers": []}


def test_compare_says_better_for_more_throughput_and_less_latency() -> None:
    lines = compare(_report(100, 10, {"a": 10}), _report(200, 5, {"a": 10}), 0.05)
    throughput = next(line for line in lines if "per_second" in line)
    latency = next(line for line in lines if "p50_ms" in line)
    assert "2.00x" in throughput and throughput.endswith("better")
    assert "0.50x" in latency and latency.endswith("better")
    assert not any(line.startswith("note:") for line in lines)


def test_compare_names_different_sizes_and_regressions() -> None:
    lines = compare(_report(200, 5, {"a": 10}), _report(100, 10, {"a": 20}), 0.05)
    assert lines[0].startswith("note: sizes differ")
    assert all(line.endswith("worse") for line in lines if "memory" in line)


def test_load_refuses_a_file_that_is_not_a_report(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"benchmarks": []}))
    with pytest.raises(SystemExit, match="not a report of benchmarks/run.py"):
        load(path)
