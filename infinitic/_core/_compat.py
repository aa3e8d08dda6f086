"""The single place that decides whether the compiled twins are used."""

import logging
import os
import sys

NO_EXTENSIONS: bool = os.environ.get("INFINITIC_NO_EXTENSIONS", "") not in ("", "0") or (
    sys.implementation.name != "cpython"
)
USE_EXTENSIONS: bool = not NO_EXTENSIONS
FALLBACKS: dict[str, str] = {}  # kernel -> why its compiled module did not load


def fell_back(kernel: str, error: ImportError) -> None:
    """Records that `kernel` runs on its pure-Python twin although the compiled one was wanted,
    and says so once per process: a log warning, which logging prints even when the
    application configured no logging (a `warnings` warning would be an error under pytest's
    filterwarnings=error in users' test suites)."""
    first = not FALLBACKS
    FALLBACKS[kernel] = str(error)
    if first:
        logging.getLogger("infinitic").warning(
            "infinitic: the compiled kernels are not installed (%s: %s); running on the "
            "pure-Python twins, several times slower. Install a binary wheel, or build with a C "
            "compiler and Cython; set INFINITIC_NO_EXTENSIONS=1 to choose the twins and silence "
            "this warning.",
            kernel,
            error,
        )
