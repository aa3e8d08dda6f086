"""Selects the compiled replay kernel, or its pure-Python twin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS, fell_back

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._replay_py import (
        CANCELED,
        CHECK_NONE,
        CHECK_SIMPLE,
        CHECK_STRICT,
        COMPLETED,
        FAILED,
        ONGOING,
        STATUS_NAMES,
        TIMED_OUT,
        UNKNOWN,
        History,
        step_signature,
    )

    IMPLEMENTATION = "py"
else:
    try:
        from ._replay_c import (
            CANCELED,
            CHECK_NONE,
            CHECK_SIMPLE,
            CHECK_STRICT,
            COMPLETED,
            FAILED,
            ONGOING,
            STATUS_NAMES,
            TIMED_OUT,
            UNKNOWN,
            History,
            step_signature,
        )

        IMPLEMENTATION = "c"
    except ImportError as exc:  # pragma: no cover - a build without a compiler
        fell_back("replay", exc)
        from ._replay_py import (
            CANCELED,
            CHECK_NONE,
            CHECK_SIMPLE,
            CHECK_STRICT,
            COMPLETED,
            FAILED,
            ONGOING,
            STATUS_NAMES,
            TIMED_OUT,
            UNKNOWN,
            History,
            step_signature,
        )

        IMPLEMENTATION = "py"

__all__ = [
    "CANCELED",
    "CHECK_NONE",
    "CHECK_SIMPLE",
    "CHECK_STRICT",
    "COMPLETED",
    "FAILED",
    "IMPLEMENTATION",
    "ONGOING",
    "STATUS_NAMES",
    "TIMED_OUT",
    "UNKNOWN",
    "History",
    "step_signature",
]
