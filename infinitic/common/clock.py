"""The time the engines decide by: the wall clock, unless a test environment installed another.

Engine logic (timer due times, task deadlines, `self.now()` in workflows) reads `clock.now()`
instead of `time.time()`, so `infinitic.testing.WorkflowEnvironment` can run it on a virtual
clock that skips ahead. Read it as `clock.now()` (not `from clock import now`): `install` swaps
the module attribute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

now: Callable[[], float] = time.time


def install(source: Callable[[], float] | None) -> Callable[[], float]:
    """Makes `source` (seconds since the epoch, like time.time) the process's engine clock, or
    the wall clock again when None; returns the clock it replaced."""
    global now
    previous = now
    now = source if source is not None else time.time
    return previous
