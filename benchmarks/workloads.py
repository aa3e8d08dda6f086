"""The service and workflow the end-to-end benchmarks run, shared by every driver.

`BenchTaskImpl.step` counts its runs in PROGRESS so a driver can report how far a single long
workflow (a fan-out, a 1,000-step loop) got when its time budget ran out.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from infinitic import Workflow, all_of, name


class Progress:
    """A thread-safe counter of task runs (the task executor runs sync methods on a pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self) -> None:
        with self._lock:
            self._value += 1

    @property
    def value(self) -> int:
        return self._value


PROGRESS = Progress()


@name("BenchTask")
class BenchTask:
    def step(self, i: int) -> int: ...


class BenchTaskImpl(BenchTask):
    def step(self, i: int) -> int:
        PROGRESS.add()
        return i + 1


@name("BenchFlow")
class BenchFlow(Workflow):
    def sequential(self, i: int) -> int: ...
    def fanout(self, n: int) -> int: ...
    def long(self, n: int) -> int: ...
    def sleeper(self, i: int) -> int: ...


class BenchFlowImpl(BenchFlow):
    def __init__(self) -> None:
        self.tasks = self.new_service(BenchTask)

    def sequential(self, i: int) -> int:
        return self.tasks.step(self.tasks.step(self.tasks.step(i)))

    def fanout(self, n: int) -> int:
        return sum(all_of(*(self.dispatch(self.tasks.step, i) for i in range(n))).result())

    def long(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = self.tasks.step(value)
        return value

    def sleeper(self, i: int) -> int:
        self.timer(timedelta(seconds=1)).result()
        return i


class CountingListener:
    """The event listener of `run.py --observe`: counts what it hears (a cheap real one)."""

    heard = 0

    def on_events(self, events: list[Any]) -> None:
        CountingListener.heard += len(events)
