"""A virtual clock: time stands still until the test environment moves it to the next due event."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable


class Scheduled:
    """A delivery waiting for the virtual clock; `cancel()` drops it."""

    __slots__ = ("due", "callback", "canceled")

    def __init__(self, due: float, callback: Callable[[], None]) -> None:
        self.due = due
        self.callback = callback
        self.canceled = False

    def cancel(self) -> None:
        self.canceled = True


class VirtualClock:
    """Seconds since the epoch that move only when told to.

    `call_later` (the in-memory transport's scheduler seam) queues a callback at now + delay;
    `fire_until(t)` moves the clock through every due callback up to `t`, in order. Both run on
    the event loop's thread; `now()` may be read from any thread.
    """

    def __init__(self, start: float) -> None:
        self._now = start
        self._queue: list[tuple[float, int, Scheduled]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Scheduled:
        entry = Scheduled(self._now + max(0.0, delay), callback)
        heapq.heappush(self._queue, (entry.due, next(self._order), entry))
        return entry

    def next_due(self) -> float | None:
        """When the earliest pending callback is due, None if there is none."""
        while self._queue and self._queue[0][2].canceled:
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    def fire_until(self, instant: float) -> int:
        """Runs the callbacks due by `instant` (the clock reads each one's due time while it
        runs), then sets the clock to `instant` if that is later; returns how many ran."""
        fired = 0
        while True:
            due = self.next_due()
            if due is None or due > instant:
                break
            _, _, entry = heapq.heappop(self._queue)
            self._now = max(self._now, due)
            entry.callback()
            fired += 1
        self._now = max(self._now, instant)
        return fired

    def cancel_all(self) -> None:
        for _, _, entry in self._queue:
            entry.cancel()
        self._queue.clear()
