"""The hand-offs between Pulsar's client threads and the event loop: `Inbox` brings what the
client's threads deliver (messages, send receipts) to the loop in batches, `Calls` makes the
client's calls (sends, acknowledgements) on a thread of its own."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any


class Inbox:
    """Items from Pulsar's threads to the event loop: one wake-up for a burst, not one each."""

    def __init__(self, loop: asyncio.AbstractEventLoop, drain: Callable[[Any], None]) -> None:
        self._loop = loop
        self._drain = drain
        self._items: list[Any] = []
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        """On any thread."""
        with self._lock:
            self._items.append(item)
            wake = len(self._items) == 1
        if wake:
            self._wake()

    def put_many(self, items: list[Any]) -> None:
        """On any thread: `items`, in order, with at most one wake-up."""
        with self._lock:
            wake = not self._items
            self._items += items
        if wake:
            self._wake()

    def _wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._run)
        except RuntimeError:  # the loop closed: shutting down
            pass

    def _run(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        for item in items:
            self._drain(item)


class Calls:
    """Pulsar client calls (sends; or acknowledgements) made on a thread of their own, in order.

    `send_async` and `acknowledge` release the GIL, and inside, the binding takes it back for
    every copy of the send callback: made on the event loop's thread, each such call left the
    loop waiting for the GIL while the task threads and Pulsar's own threads held it (py-spy:
    over a third of the loop's time). The loop queues the calls of one turn and wakes this
    thread once; one sends thread keeps each producer's order. A send that raises here reports
    its error through `failed` (the caller's receipt path), so nothing is dropped.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        self._loop = loop
        self._batch: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], Any]] = []
        self._queue: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name=f"infinitic-pulsar-{name}", daemon=True
        )
        self._thread.start()

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        failed: Callable[[Exception], None],
    ) -> None:
        """On the event loop: `fn(*args, **kwargs)` at the end of this turn, on the calls
        thread; `failed(error)` there if it raises."""
        if not self._batch:
            self._loop.call_soon(self._post)
        self._batch.append((fn, args, kwargs, failed))

    def _post(self) -> None:
        batch, self._batch = self._batch, []
        self._queue.put(batch)

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            for fn, args, kwargs, failed in batch:
                try:
                    fn(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - handed to the caller's receipt
                    failed(exc)

    def close(self) -> None:
        """Runs what is queued, then stops (blocking: call it off the event loop)."""
        if self._batch:
            self._post()
        self._queue.put(None)
        self._thread.join()
