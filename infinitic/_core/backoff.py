"""Truncated randomized exponential backoff: picks the compiled kernel, else its Python twin.

`IMPLEMENTATION` is "c" when `_backoff_c` is loaded and "py" otherwise. Type checkers always
see the twin, `_backoff_py`, which is the type source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS, fell_back

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._backoff_py import (
        DEFAULT_BACKOFF_COEFFICIENT,
        DEFAULT_MAXIMUM_RETRIES,
        DEFAULT_MAXIMUM_SECONDS,
        DEFAULT_MINIMUM_SECONDS,
        DEFAULT_RANDOM_FACTOR,
        ExponentialBackoff,
        compute_delay,
        exception_matches,
    )

    IMPLEMENTATION = "py"
else:
    try:
        from ._backoff_c import (
            DEFAULT_BACKOFF_COEFFICIENT,
            DEFAULT_MAXIMUM_RETRIES,
            DEFAULT_MAXIMUM_SECONDS,
            DEFAULT_MINIMUM_SECONDS,
            DEFAULT_RANDOM_FACTOR,
            ExponentialBackoff,
            compute_delay,
            exception_matches,
        )

        IMPLEMENTATION = "c"
    except ImportError as exc:
        fell_back("backoff", exc)
        from ._backoff_py import (
            DEFAULT_BACKOFF_COEFFICIENT,
            DEFAULT_MAXIMUM_RETRIES,
            DEFAULT_MAXIMUM_SECONDS,
            DEFAULT_MINIMUM_SECONDS,
            DEFAULT_RANDOM_FACTOR,
            ExponentialBackoff,
            compute_delay,
            exception_matches,
        )

        IMPLEMENTATION = "py"

__all__ = [
    "DEFAULT_BACKOFF_COEFFICIENT",
    "DEFAULT_MAXIMUM_RETRIES",
    "DEFAULT_MAXIMUM_SECONDS",
    "DEFAULT_MINIMUM_SECONDS",
    "DEFAULT_RANDOM_FACTOR",
    "IMPLEMENTATION",
    "ExponentialBackoff",
    "compute_delay",
    "exception_matches",
]
