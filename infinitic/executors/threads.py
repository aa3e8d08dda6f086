"""A pool of `size` live threads for sync task methods.

A Python thread cannot be killed, so a runtime timeout abandons the thread running the attempt:
a replacement is started at once, and the abandoned thread retires when its call returns (its
late result is dropped). Each call runs in a fresh contextvars.Context, so no task context leaks
from one task to the next.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

_Item = tuple["asyncio.Future[Any]", Callable[[], Any]]


class TaskThreads:
    def __init__(self, size: int, name: str) -> None:
        if size < 1:
            raise ValueError(f"concurrency must be >= 1, got {size}")
        self._name = name
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running: dict[asyncio.Future[Any], threading.Thread] = {}
        self._started: dict[asyncio.Future[Any], float] = {}  # time.monotonic() at start
        self._abandoned: set[threading.Thread] = set()
        self._threads: set[threading.Thread] = set()
        self._counter = 0
        self._closed = False
        for _ in range(size):
            self._spawn()

    def submit(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        """Runs `call` on a pool thread; the returned future resolves on the caller's loop."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put((future, call))
        return future

    def started_at(self, future: asyncio.Future[Any]) -> float | None:
        """When a thread started the call behind `future` (time.monotonic()); None while it
        waits for a thread (or once it ended)."""
        return self._started.get(future)

    def abandon(self, future: asyncio.Future[Any]) -> None:
        """Gives up on the call behind `future`: its thread is replaced and retires when done."""
        with self._lock:
            thread = self._running.pop(future, None)
            if thread is None:
                return  # not started yet: the worker skips cancelled futures
            self._abandoned.add(thread)
        self._spawn()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            count = len(self._threads)
        for _ in range(count):
            self._queue.put(None)

    def _spawn(self) -> None:
        with self._lock:
            self._counter += 1
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{self._counter}", daemon=True
            )
            self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        me = threading.current_thread()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                future, call = item
                if future.done():
                    continue
                with self._lock:
                    self._running[future] = me
                    self._started[future] = time.monotonic()
                try:
                    result: Any = contextvars.Context().run(call)
                    error: BaseException | None = None
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                    result, error = None, exc
                with self._lock:
                    self._running.pop(future, None)
                    self._started.pop(future, None)
                    abandoned = me in self._abandoned
                if not abandoned:
                    _resolve(future, result, error)
                else:
                    return
        finally:
            with self._lock:
                self._threads.discard(me)
                self._abandoned.discard(me)


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    def apply() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    try:
        future.get_loop().call_soon_threadsafe(apply)
    except RuntimeError:  # the loop is closed: nobody waits any more
        pass
