"""The single place that decides whether the compiled twins are used."""

import os
import sys

NO_EXTENSIONS: bool = os.environ.get("INFINITIC_NO_EXTENSIONS", "") not in ("", "0") or (
    sys.implementation.name != "cpython"
)
USE_EXTENSIONS: bool = not NO_EXTENSIONS
