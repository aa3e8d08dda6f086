"""The event loop that workers and clients share in one process, run on a daemon thread.

User code calls the sync API from its own threads; the async core runs here. uvloop is used
when installed. The runtime is reference-counted: the last `release()` stops the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_shared: Runtime | None = None
LOOP_THREAD = "infinitic-loop"


def on_a_loop_thread() -> bool:
    """Whether this thread runs a runtime's loop: a blocking wait here would stall (or deadlock)
    the loop that delivers every answer."""
    return threading.current_thread().name == LOOP_THREAD


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class Runtime:
    def __init__(self) -> None:
        self.loop = _new_loop()
        self._users = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=LOOP_THREAD, daemon=True)
        self._thread.start()
        self._ready.wait()

    @classmethod
    def acquire(cls) -> Runtime:
        """The process's shared runtime, started if needed; pair with `release()`."""
        global _shared
        with _lock:
            if _shared is None or not _shared._thread.is_alive():
                _shared = cls()
            _shared._users += 1
            return _shared

    def release(self) -> None:
        global _shared
        with _lock:
            self._users -= 1
            if self._users > 0:
                return
            if _shared is self:
                _shared = None
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)

    @property
    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Runs `coro` on the loop and waits for it from another thread."""
        if self.in_loop_thread:
            coro.close()
            raise RuntimeError(
                "a blocking infinitic call was made on the event loop's thread; "
                "in async code, await the handle instead"
            )
        return self.submit(coro).result(timeout)
