"""Where the time goes: py-spy samples one end-to-end workload (memory + memory) and this prints
the functions with the largest share of the samples, by own time and by inclusive time.

    python benchmarks/profile.py --workload a --size 10000 [--rate 250] [--top 25]

Needs py-spy (the bench extra) and the right to ptrace a child (root, or ptrace_scope 0). The
collapsed stacks are kept (--keep FILE) for a flame graph (e.g. speedscope or flamegraph.pl).
Only samples of the thread holding the GIL count (py-spy --gil): the Python work, without the
threads that wait. Sampling does not pause the process (--nonblocking); --native would, and it
slowed workload (a) 7x here while showing mostly futex waits, so it is not offered.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def summarize(collapsed: str, top: int) -> list[str]:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        count = int(count_text)
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return ["no busy samples"]
    lines = [f"{total} samples holding the GIL", "", "own time:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=["a", "b", "c", "d"], default="a")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="write the collapsed stacks here")
    args = parser.parse_args()
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(args.keep or Path(folder) / "stacks.txt")
        command = [
            spy,
            "record",
            "--format",
            "raw",
            "--rate",
            str(args.rate),
            "--function",
            "--gil",
        ]
        command += ["--output", str(raw), "--nonblocking"]
        command += ["--", sys.executable, "-m", "benchmarks.e2e", "--workload", args.workload]
        command += ["--size", str(args.size), "--budget", str(args.budget)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        results = [line for line in done.stdout.splitlines() if line.startswith("{")]
        print(results[-1] if results else f"(no result line) {done.stderr.strip()[-300:]}")
        if not raw.exists():
            raise SystemExit(f"py-spy wrote nothing: {done.stderr.strip()[-500:]}")
        print("\n".join(summarize(raw.read_text(), args.top)))


if __name__ == "__main__":
    main()
