"""Hot paths, compiled with Cython, each with a pure-Python twin. Imports the standard library only."""

from __future__ import annotations

import importlib
import sys

KERNELS = ("backoff", "envelope", "replay")


def kernels_in_use() -> dict[str, str]:
    """Which implementation each hot path runs in this process: "compiled" or "pure-Python"."""
    return {
        kernel: "compiled"
        if importlib.import_module(f"{__name__}.{kernel}").IMPLEMENTATION == "c"
        else "pure-Python"
        for kernel in KERNELS
    }


def kernels_summary() -> str:
    """One line for `infinitic --version`: which kernels run, and why the twins if they do."""
    from ._compat import FALLBACKS, NO_EXTENSIONS

    used = kernels_in_use()
    if all(v == "compiled" for v in used.values()):
        return "kernels: compiled (Cython)"
    if NO_EXTENSIONS:
        why = (
            "INFINITIC_NO_EXTENSIONS is set"
            if sys.implementation.name == "cpython"
            else f"{sys.implementation.name} is not CPython"
        )
        return f"kernels: pure-Python twins ({why})"
    shown = ", ".join(f"{k}: {v}" for k, v in used.items())
    return f"kernels: {shown} (compiled modules missing: {', '.join(sorted(FALLBACKS))})"
