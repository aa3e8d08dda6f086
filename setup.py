"""Declares the Cython extensions of infinitic/_core; everything else is in pyproject.toml.

INFINITIC_NO_EXTENSIONS=1 builds none (the pure-Python twins are used). Without Cython or a
C compiler the build also falls back to the twins, unless INFINITIC_REQUIRE_EXTENSIONS=1.
"""

import glob
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


def _flag(name: str) -> bool:
    # the same rule as infinitic/_core/_compat.py, so the build and the runtime agree
    return os.environ.get(name, "") not in ("", "0")


NO_EXTENSIONS = _flag("INFINITIC_NO_EXTENSIONS") or sys.implementation.name != "cpython"
REQUIRE_EXTENSIONS = _flag("INFINITIC_REQUIRE_EXTENSIONS")


class OptionalBuildExt(build_ext):
    """Falls back to the pure-Python twins when a compiler is missing or fails.

    Under INFINITIC_REQUIRE_EXTENSIONS=1 (CI, cibuildwheel) any failure stops the build, so a
    wheel never ships without its compiled kernels by accident.
    """

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure means "no extensions"
            if REQUIRE_EXTENSIONS:
                raise
            _fallback(f"building the extensions failed ({exc})")

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            if REQUIRE_EXTENSIONS:
                raise
            _fallback(f"building {ext.name} failed ({exc})")


def _fallback(reason: str) -> None:
    # pip shows a build's output only with -v; the installed package also logs a warning at its
    # first import (infinitic/_core/_compat.py), so a fallback is never silent
    bar = "*" * 78
    print(
        f"\n{bar}\nWARNING: infinitic: {reason}.\nThis install falls back to the pure-Python "
        "twins of the compiled kernels: it works, several times slower.\nInstall a C compiler "
        "(and Cython) and reinstall, or use a binary wheel; INFINITIC_REQUIRE_EXTENSIONS=1 makes "
        f"this an error.\n{bar}\n",
        file=sys.stderr,
    )


def _extensions() -> list:  # type: ignore[type-arg]
    if NO_EXTENSIONS:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as exc:
        if REQUIRE_EXTENSIONS:
            raise RuntimeError(
                "INFINITIC_REQUIRE_EXTENSIONS=1 but Cython is not installed: "
                "install Cython (see build-system.requires) or unset the variable"
            ) from exc
        _fallback("Cython is not installed")
        return []
    sources = sorted(glob.glob("infinitic/_core/_*_c.pyx"))
    return cythonize(
        sources,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
            "linetrace": _flag("INFINITIC_CYTHON_TRACING"),
        },
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
