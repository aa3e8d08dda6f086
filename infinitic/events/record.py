"""An event before it is a CloudEvent: built on the hot path, turned into one off it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import quote

# (type, source path, subject, id, time in seconds, the name of its data builder in data.py,
# the builder's argument). Names, strings, numbers and bytes: the garbage collector does not
# track a tuple of those, and records wait for the listener long enough to be collected many
# times over (messages are kept as their envelope bytes, see workflow_tap._lazy)
Record = tuple[str, str, str, str, float, str, Any]


@lru_cache(maxsize=4096)
def source(kind: str, name: str) -> str:
    """Infinitic's source path: `services/executor/{name}`, `workflows/stateEngine/{name}`."""
    return f"{kind}/{quote(name, safe='')}"
