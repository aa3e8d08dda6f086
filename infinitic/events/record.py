"""An event before it is a CloudEvent: built on the hot path, turned into one off it."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import quote

# (type, source path, subject, id, time in seconds, data builder, the builder's argument)
Record = tuple[str, str, str, str, float, Callable[[Any], dict[str, Any]], Any]


@lru_cache(maxsize=4096)
def source(kind: str, name: str) -> str:
    """Infinitic's source path: `services/executor/{name}`, `workflows/stateEngine/{name}`."""
    return f"{kind}/{quote(name, safe='')}"
