"""Waiting in async tests for a condition, with a deadline (never a bare sleep)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(
    condition: Callable[[], bool], what: str = "condition not met in time", seconds: float = 5.0
) -> None:
    """Returns once `condition()` holds; fails with `what` after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.01)
