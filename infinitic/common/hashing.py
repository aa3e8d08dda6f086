"""What the workflow runtime and the engines must compute alike: history hashes, channel filters.

The replay (executors/workflow_run.py) records `args_hash` of each command and `props_hash` of the
properties at each step; the engine (engines/workflow_engine/scheduler.py) keys the properties
it stores by the same `props_hash`. A signal sent to a channel with a filter is delivered by the
engine only if `filter_matches` the filter the workflow gave `receive`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def args_hash(data: bytes) -> str:
    """The digest of a command's serialized arguments, compared on replay."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def props_hash(data: bytes) -> str:
    """The digest of a workflow instance's serialized properties."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def filter_matches(criteria: Mapping[str, Any], value: Any) -> bool:
    """True if every dotted path of `criteria` holds the expected value in `value` (JSON data)."""
    for path, expected in criteria.items():
        current = value
        for part in path.split(".") if path else []:
            if isinstance(current, Mapping) and part in current:
                current = current[part]
            elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
                current = current[int(part)]
            else:
                return False
        if current != expected:
            return False
    return True
