"""Long workflows for the live-run tests, importable by class path from worker configs."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from infinitic import Channel, Workflow, name
from tests.sample_workflows import MathService


@name("Long")
class LongWorkflow(Workflow):
    bumps = Channel[int]()

    def steps(self, n: int) -> int: ...
    def steps_then_signals(self, n: int, signals: int) -> list[int]: ...
    def add(self, x: int) -> int: ...


class LongWorkflowImpl(LongWorkflow):
    created: ClassVar[int] = 0  # instances made: one per replay, one for a live run

    def __init__(self) -> None:
        type(self).created += 1
        self.math = self.new_service(MathService)
        self.total = 0

    def steps(self, n: int) -> int:
        for i in range(n):
            self.total = self.math.add(self.total, i)
            if i % 25 == 24:
                self.timer(timedelta(milliseconds=1)).result()
        return self.total

    def steps_then_signals(self, n: int, signals: int) -> list[int]:
        for _ in range(n):
            self.total = self.math.add(self.total, 1)
        got = []
        for _ in range(signals):
            got.append(self.bumps.receive().result())
            self.total += got[-1]
        return [self.total, *got]

    def add(self, x: int) -> int:
        self.total += x
        return self.total


@name("AsyncLong")
class AsyncLongWorkflow(Workflow):
    """LongWorkflow with `async def` methods: live runs keep a coroutine alive the same way."""

    bumps = Channel[int]()

    async def steps(self, n: int) -> int: ...
    async def steps_then_signals(self, n: int, signals: int) -> list[int]: ...
    def add(self, x: int) -> int: ...


class AsyncLongWorkflowImpl(AsyncLongWorkflow):
    created: ClassVar[int] = 0

    def __init__(self) -> None:
        type(self).created += 1
        self.math = self.new_service(MathService)
        self.total = 0

    async def steps(self, n: int) -> int:
        for i in range(n):
            self.total = await self.dispatch(self.math.add, self.total, i)
            if i % 25 == 24:
                await self.timer(timedelta(milliseconds=1))
        return self.total

    async def steps_then_signals(self, n: int, signals: int) -> list[int]:
        for _ in range(n):
            self.total = await self.dispatch(self.math.add, self.total, 1)
        got = []
        for _ in range(signals):
            got.append(await self.bumps.receive())
            self.total += got[-1]
        return [self.total, *got]

    def add(self, x: int) -> int:
        self.total += x
        return self.total
