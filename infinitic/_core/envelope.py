"""Message envelopes: the compiled codec when it is built, its pure-Python twin otherwise.

See docs/envelope.md for the format. `IMPLEMENTATION` says which one was loaded ("c" or "py").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS, fell_back

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._envelope_py import (
        DEFAULT_MAX_SIZE,
        FORMAT_VERSION,
        KINDS,
        MAGIC,
        MAX_DEPTH,
        Codec,
        EnvelopeError,
    )

    IMPLEMENTATION: str = "py"
else:
    try:
        from ._envelope_c import (
            DEFAULT_MAX_SIZE,
            FORMAT_VERSION,
            KINDS,
            MAGIC,
            MAX_DEPTH,
            Codec,
            EnvelopeError,
        )

        IMPLEMENTATION = "c"
    except ImportError as exc:
        fell_back("envelope", exc)
        from ._envelope_py import (
            DEFAULT_MAX_SIZE,
            FORMAT_VERSION,
            KINDS,
            MAGIC,
            MAX_DEPTH,
            Codec,
            EnvelopeError,
        )

        IMPLEMENTATION = "py"

__all__ = [
    "DEFAULT_MAX_SIZE",
    "FORMAT_VERSION",
    "IMPLEMENTATION",
    "KINDS",
    "MAGIC",
    "MAX_DEPTH",
    "Codec",
    "EnvelopeError",
]
