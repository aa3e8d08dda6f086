"""No silent twins: a benchmark meant for the compiled kernels refuses to measure the
pure-Python twins unless they were chosen (INFINITIC_NO_EXTENSIONS=1, as run.py --kernels py
does). Run from the repository root without `python3 setup.py build_ext --inplace`, the source
tree's twins are imported, not the installed wheel's compiled modules."""

from __future__ import annotations

import sys

from infinitic._core import kernels_in_use
from infinitic._core._compat import FALLBACKS, NO_EXTENSIONS


def require_compiled(what: str) -> dict[str, str]:
    """Which kernels run; exits with a loud message when twins run without being chosen."""
    used = kernels_in_use()
    twins = sorted(k for k, v in used.items() if v != "compiled")
    if twins and not NO_EXTENSIONS:
        why = "; ".join(f"{k}: {FALLBACKS.get(k, 'not compiled')}" for k in twins)
        sys.stderr.write(
            f"\n*** {what}: REFUSING to measure the pure-Python twins of {', '.join(twins)} "
            f"({why}).\n*** Build the kernels in place (python3 setup.py build_ext --inplace), "
            "or set INFINITIC_NO_EXTENSIONS=1 to measure the twins on purpose.\n\n"
        )
        raise SystemExit(2)
    if twins:
        sys.stderr.write(f"*** {what}: measuring the pure-Python twins (chosen)\n")
    return used
