"""Prints, at the end of a benchmark run, the twin/compiled ratio of every benchmark that ran on
both kernels (the `py` and `c` parameters of the core_module fixtures)."""

from __future__ import annotations

import re
from typing import Any

import pytest

_FLAVOUR = re.compile(r"(?<=[\[-])(py|c)(?=[\]-])")


def pair_key(name: str) -> tuple[str, str | None]:
    """("test_encode[ExecuteTask]", "c") for "test_encode[c-ExecuteTask]"; no flavour: None."""
    found = _FLAVOUR.search(name)
    if found is None:
        return name, None
    key = name[: found.start()] + name[found.end() :]
    return key.replace("[-", "[").replace("-]", "]").replace("--", "-").replace("[]", ""), found[1]


def ratios(benchmarks: list[dict[str, Any]]) -> list[tuple[str, float, float, float]]:
    """(name, compiled min s, twin min s, twin/compiled) for each pair, from pytest-benchmark's
    JSON entries (`name`, `stats.min`)."""
    by_key: dict[str, dict[str, float]] = {}
    for bench in benchmarks:
        key, flavour = pair_key(bench["name"])
        if flavour is not None and bench.get("stats"):
            by_key.setdefault(key, {})[flavour] = bench["stats"]["min"]
    return [
        (key, times["c"], times["py"], times["py"] / times["c"])
        for key, times in by_key.items()
        if "c" in times and "py" in times and times["c"] > 0
    ]


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)  # pytest-benchmark's, when it ran
    if session is None or getattr(session, "disabled", True):
        return
    entries = [b.as_dict(include_data=False) for b in session.benchmarks if not b.has_error]
    rows = ratios(entries)
    if not rows:
        return
    terminalreporter.section("compiled vs twin (min of rounds)")
    width = max(len(r[0]) for r in rows)
    terminalreporter.write_line(f"{'benchmark':<{width}}  {'compiled':>11}  {'twin':>11}  twin/c")
    for key, c, py, ratio in sorted(rows):
        terminalreporter.write_line(
            f"{key:<{width}}  {c * 1e3:>8.3f} ms  {py * 1e3:>8.3f} ms  {ratio:5.1f}x"
        )
