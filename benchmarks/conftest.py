"""Prints, at the end of a benchmark run, the twin/compiled ratio of every benchmark that ran on
both kernels (the `py` and `c` parameters of the kernel fixtures, tests/helpers/kernels.py)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.report import ratios


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
    for key, c, py, ratio in rows:
        terminalreporter.write_line(
            f"{key:<{width}}  {c * 1e3:>8.3f} ms  {py * 1e3:>8.3f} ms  {ratio:5.1f}x"
        )
