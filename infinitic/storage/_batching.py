"""The batching thread shared by the SQLite and MySQL storages.

Async callers put operations on a queue and await their futures; a thread owning one
connection takes everything queued (up to `max_batch`), runs it as one batch, and hands the
results back to the callers' loops with one wake-up per loop and batch. A `Stop` ends the
thread once the operations queued before it are served.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = ["Outcome", "Stop", "Waiting", "deliver", "refuse_queued", "resolve", "serve"]

# (exception or None, value) per operation
Outcome = tuple["BaseException | None", Any]


class Waiting(Protocol):
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class Stop:
    """Queued last by `close`: the thread ends once it is reached (resolved with None)."""

    __slots__ = ("future", "loop")

    def __init__(self, future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop) -> None:
        self.future = future
        self.loop = loop


def resolve(items: list[tuple[asyncio.Future[Any], BaseException | None, Any]]) -> None:
    for future, error, value in items:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def deliver(ops: Sequence[Waiting], outcomes: Sequence[Outcome]) -> None:
    """One wake-up per loop and batch: each op gets its (error, value)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
    for op, (error, value) in zip(ops, outcomes, strict=True):
        by_loop.setdefault(op.loop, []).append((op.future, error, value))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(resolve, items)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            pass


def serve(
    q: queue.SimpleQueue[Any],
    max_batch: int,
    run: Callable[[list[Any]], list[Outcome]],
    internal_error: Callable[[BaseException], BaseException],
    log: logging.Logger,
    where: str,
    close: Callable[[], None],
) -> None:
    """Runs batches of what `q` holds until a `Stop`, then `close()`s and resolves the stop.

    A queue item is one operation or a list of them (taken whole). `run` gets the batch and
    returns an outcome per operation; if it raises (a bug), every operation of the batch gets
    `internal_error(exc)` and the thread keeps serving."""
    stop: Stop | None = None
    try:
        while stop is None:
            batch: list[Any] = []
            item = q.get()
            while True:
                for op in item if type(item) is list else (item,):
                    if type(op) is Stop:
                        stop = op
                    else:
                        batch.append(op)
                if stop is not None or len(batch) >= max_batch:
                    break
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
            # skip what was cancelled before we got to it (a racy read of a bool, harmless)
            batch = [op for op in batch if not op.future.cancelled()]
            if batch:
                try:
                    outcomes = run(batch)
                except BaseException as exc:  # a bug: report it, keep serving
                    log.exception("%s: batch failed", where)
                    outcomes = [(internal_error(exc), None)] * len(batch)
                deliver(batch, outcomes)
    finally:
        close()
        if stop is not None:
            deliver([stop], [(None, None)])


def refuse_queued(q: queue.SimpleQueue[Any], error: BaseException) -> None:
    """Fails what was queued after the threads stopped (from another thread) with `error`."""
    leftovers: list[Any] = []
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            break
        leftovers.extend(item if type(item) is list else (item,))
    deliver(leftovers, [(error, None)] * len(leftovers))
