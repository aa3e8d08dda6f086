"""Compares two reports of benchmarks/run.py, metric by metric.

    python benchmarks/compare.py A.json B.json [--min-change 0.05]

For every figure both reports have, prints B/A and whether B is better (a throughput that went up,
a time, latency, memory or CPU cost that went down). Sizes or budgets that differ are named
first: a ratio between runs of different sizes is not a like-for-like comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import flatten  # noqa: E402


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"{path}: not a readable JSON report ({exc})") from None
    if not isinstance(data, dict) or "meta" not in data:
        raise SystemExit(f"{path}: not a report of benchmarks/run.py (no 'meta')")
    return data


def compare(a: dict[str, Any], b: dict[str, Any], min_change: float) -> list[str]:
    lines = []
    for key in ("sizes", "budget_s", "scale"):
        if a["meta"].get(key) != b["meta"].get(key):
            lines.append(f"note: {key} differ: {a['meta'].get(key)} vs {b['meta'].get(key)}")
    fa, fb = flatten(a), flatten(b)
    common = [k for k in fa if k in fb]
    if not common:
        lines.append("no figure in common")
        return lines
    width = max(len(k) for k in common)
    lines.append(f"{'metric':<{width}}  {'A':>12}  {'B':>12}  {'B/A':>7}")
    for key in common:
        (va, higher), (vb, _) = fa[key], fb[key]
        ratio = vb / va
        if abs(ratio - 1) < min_change:
            verdict = ""
        else:
            verdict = "better" if (ratio > 1) == higher else "worse"
        lines.append(f"{key:<{width}}  {va:>12.6g}  {vb:>12.6g}  {ratio:>6.2f}x  {verdict}")
    only = sorted(set(fa) ^ set(fb))
    if only:
        lines.append(f"{len(only)} figures in one report only (e.g. {only[0]})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument(
        "--min-change", type=float, default=0.05, help="below this relative change, no verdict"
    )
    args = parser.parse_args()
    print("\n".join(compare(load(args.a), load(args.b), args.min_change)))


if __name__ == "__main__":
    main()
