"""Smoke test of an installed infinitic (a wheel, or the sdist): which kernels loaded, then
`infinitic demo` end to end on the embedded default.

Run it with the interpreter of the environment under test, from outside the source tree:
`python wheels/smoke.py --expect c` (cibuildwheel's test-command, scripts/build-wheels).
`--expect c` fails unless every kernel is compiled, `--expect py` unless every one is the
pure-Python twin; without it, c when INFINITIC_REQUIRE_EXTENSIONS is set, else either.
Exit status 0 when all holds; 1 with the reason on stderr otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.machinery
import io
import os
import sys
import sysconfig
from pathlib import Path

# the last lines of the demo's saga: a failed hotel booking compensates the car and the flight
DEMO_MARKER = "     canceled the car"


def kernels() -> list[str]:
    """Every kernel the installed package has: one pure-Python twin `_<kernel>_py.py` each."""
    import infinitic._core

    folder = Path(infinitic._core.__file__).parent
    return sorted(p.name[1 : -len("_py.py")] for p in folder.glob("_*_py.py"))


def check_installed() -> str | None:
    """None if infinitic is imported from this environment's site-packages, else why not."""
    import infinitic

    location = Path(infinitic.__file__).resolve().parent
    roots = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    if not any(location.is_relative_to(root) for root in roots):
        return f"infinitic was imported from {location}, not from site-packages {sorted(roots)}"
    return None


def check_kernels(expect: str) -> str | None:
    """None if every kernel's selector picked the expected implementation, else why not."""
    names = kernels()
    if not names:
        return "no kernel twin (_*_py.py) in infinitic/_core: the package is incomplete"
    picked: dict[str, str] = {}
    for kernel in names:
        selector = importlib.import_module(f"infinitic._core.{kernel}")
        picked[kernel] = selector.IMPLEMENTATION
        if selector.IMPLEMENTATION == "c":
            compiled = sys.modules[f"infinitic._core._{kernel}_c"].__file__ or ""
            if not compiled.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
                return f"{kernel}: the compiled module is {compiled}, not an extension module"
    print("kernels:", picked)
    if expect != "any" and set(picked.values()) != {expect}:
        wrong = sorted(k for k, v in picked.items() if v != expect)
        return f"expected every kernel to be {expect!r}; these are not: {wrong}"
    return None


def run_demo() -> str | None:
    """None if `infinitic demo` exits 0 and reaches the end of its saga, else why not."""
    from infinitic.cli import main as cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli(["demo"])
    print(out.getvalue(), end="")
    if status != 0:
        return f"infinitic demo exited with status {status}"
    if DEMO_MARKER not in out.getvalue():
        return f"infinitic demo did not print {DEMO_MARKER.strip()!r}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = "c" if os.environ.get("INFINITIC_REQUIRE_EXTENSIONS", "") not in ("", "0") else "any"
    parser.add_argument("--expect", choices=("c", "py", "any"), default=default)
    args = parser.parse_args(argv)
    for check in (check_installed, lambda: check_kernels(args.expect), run_demo):
        problem = check()
        if problem is not None:
            print(f"smoke: {problem}", file=sys.stderr)
            return 1
    print("smoke: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
