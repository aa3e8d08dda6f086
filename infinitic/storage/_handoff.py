"""Hands results from a storage thread back to the event loops that wait for them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol


class Waiting(Protocol):
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def resolve(items: list[tuple[asyncio.Future[Any], BaseException | None, Any]]) -> None:
    for future, error, value in items:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def deliver(ops: Sequence[Waiting], outcomes: Sequence[tuple[BaseException | None, Any]]) -> None:
    """One wake-up per loop and batch: each op gets its (error, value)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
    for op, (error, value) in zip(ops, outcomes, strict=True):
        by_loop.setdefault(op.loop, []).append((op.future, error, value))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(resolve, items)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            pass
