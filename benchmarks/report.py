"""The JSON report of benchmarks/run.py: compiled/twin pairing, flattening into metrics (for
compare.py) and the markdown tables printed at the end of a run."""

from __future__ import annotations

import re
from typing import Any

_FLAVOUR = re.compile(r"(?<=[\[-])(py|c)(?=[\]-])")

# metric -> True when more is better (the others are costs: less is better)
E2E_METRICS = {
    "per_second": True,
    "p50_ms": False,
    "p99_ms": False,
    "unloaded_p50_ms": False,
    "peak_rss_mb": False,
    "cpu_ms_per_workflow": False,
}


def pair_key(name: str) -> tuple[str, str | None]:
    """("test_encode[ExecuteTask]", "c") for "test_encode[c-ExecuteTask]"; no flavour: None."""
    found = _FLAVOUR.search(name)
    if found is None:
        return name, None
    key = name[: found.start()] + name[found.end() :]
    key = key.replace("[-", "[").replace("-]", "]").replace("--", "-").replace("[]", "")
    return key, found[1]


def ratios(benchmarks: list[dict[str, Any]]) -> list[tuple[str, float, float, float]]:
    """(name, compiled min s, twin min s, twin/compiled) for each benchmark run on both kernels,
    from pytest-benchmark's JSON entries (`name`, `stats.min`)."""
    by_key: dict[str, dict[str, float]] = {}
    for bench in benchmarks:
        key, flavour = pair_key(bench["name"])
        if flavour is not None and bench.get("stats"):
            by_key.setdefault(key, {})[flavour] = bench["stats"]["min"]
    return [
        (key, times["c"], times["py"], times["py"] / times["c"])
        for key, times in sorted(by_key.items())
        if "c" in times and "py" in times and times["c"] > 0
    ]


def flatten(report: dict[str, Any]) -> dict[str, tuple[float, bool]]:
    """Every comparable figure of a report: name -> (value, more is better)."""
    out: dict[str, tuple[float, bool]] = {}
    for bench in report.get("micro", {}).get("benchmarks", []):
        out[f"micro {bench['name']} min_s"] = (bench["min_s"], False)
    for row in report.get("e2e", []) + report.get("peers", []):
        where = _where(row)
        for metric, higher in E2E_METRICS.items():
            value = row.get(metric)
            if isinstance(value, (int, float)) and value > 0:
                out[f"e2e {where} ({row['workload']}) {metric}"] = (float(value), higher)
    return out


def _where(row: dict[str, Any]) -> str:
    """The home (or peer) of a row, marked when it ran on the pure-Python twins."""
    twin = row.get("kernels", {}).get("envelope") == "py"
    return str(row.get("home") or row.get("peer")) + (" (twins)" if twin else "")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def e2e_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| home | workload | size | done | s | per s | p50 ms | p99 ms | unloaded p50 ms "
        "| peak RSS MB | CPU ms/workflow |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {_where(r)} | {r['workload']} | {r.get('size')} | {r['error']} |")
            continue
        done = _cell(r["completed"])
        if not r["finished"]:
            ran_out = r["seconds"] >= r["budget_s"]
            done += f" (budget {r['budget_s']:g} s)" if ran_out else " (failed: first_error)"
        lines.append(
            "| "
            + " | ".join(
                [
                    _where(r),
                    f"{r['workload']} ({r['unit']})",
                    _cell(r["size"]),
                    done,
                    _cell(r["seconds"]),
                    _cell(r["per_second"]),
                    _cell(r["p50_ms"]),
                    _cell(r["p99_ms"]),
                    _cell(r.get("unloaded_p50_ms")),
                    _cell(r["peak_rss_mb"]),
                    _cell(r["cpu_ms_per_workflow"]),
                ]
            )
            + " |"
        )
    return lines


def idle_table(rows: list[dict[str, Any]]) -> list[str]:
    """CPU of each process of a multi-process home over its idle seconds after the workload."""
    lines = ["| home | workload | idle s | client CPU % | worker CPU % |", "|---|---|---|---|---|"]
    for r in rows:
        if "idle_cpu_pct_workers" in r:
            workers = ", ".join(f"{c:g}" for c in r["idle_cpu_pct_workers"])
            lines.append(
                f"| {_where(r)} | {r['workload']} | {r['idle_seconds']:g} "
                f"| {r['idle_cpu_pct_client']:g} | {workers} |"
            )
    return lines if len(lines) > 2 else []


def micro_table(report: dict[str, Any]) -> list[str]:
    pairs = report.get("micro", {}).get("ratios", [])
    lines = ["| benchmark | compiled min | twin min | twin/compiled |", "|---|---|---|---|"]
    for p in pairs:
        lines.append(
            f"| {p['name']} | {p['compiled_min_s'] * 1e3:.3f} ms | {p['twin_min_s'] * 1e3:.3f} ms "
            f"| {p['ratio']:.1f}x |"
        )
    single = [b for b in report.get("micro", {}).get("benchmarks", []) if b["flavour"] is None]
    if single:
        lines += ["", "| benchmark (no compiled kernel) | min |", "|---|---|"]
        lines += [f"| {b['name']} | {b['min_s'] * 1e3:.3f} ms |" for b in single]
    return lines


def peer_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| ours (home) | peer | workload | ours/peer throughput |", "|---|---|---|---|"]
    lines += [
        f"| {r['home']} | {r['peer']} | {r['workload']} | {r['ratio']:.1f}x"
        + ("" if r["both_finished"] else " (one did not finish: partial throughputs)")
        + " |"
        for r in rows
    ]
    return lines
