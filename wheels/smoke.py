"""Wheel smoke test (cibuildwheel's test-command): the compiled kernels load, and a task and a
workflow run end to end on the embedded default."""

from __future__ import annotations

import os
import sys


def main() -> int:
    from infinitic._core import backoff, envelope, replay

    kernels = {
        "envelope": envelope.IMPLEMENTATION,
        "backoff": backoff.IMPLEMENTATION,
        "replay": replay.IMPLEMENTATION,
    }
    print("kernels:", kernels)
    if os.environ.get("INFINITIC_REQUIRE_EXTENSIONS") and set(kernels.values()) != {"c"}:
        print("a compiled kernel did not load", file=sys.stderr)
        return 1
    from infinitic.cli import main as cli

    return cli(["demo"])


if __name__ == "__main__":
    sys.exit(main())
