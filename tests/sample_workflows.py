"""Workflows used by the tests, importable by class path from worker configs."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone

from infinitic import (
    CanceledError,
    Channel,
    TaskFailedError,
    TimeoutError,
    Workflow,
    WorkflowFailedError,
    all_of,
    any_of,
    name,
)
from infinitic.workflow import DeferredStatus

GATES: dict[str, bool] = {}  # flipped by tests to change workflow code between runs
FOREVER = threading.Event()  # Math.slow("forever") runs until the test sets it (or 60s)


@name("Math")
class MathService:
    def add(self, a: int, b: int) -> int: ...
    def fail(self, why: str) -> int: ...
    def slow(self, key: str) -> int: ...


class MathServiceImpl(MathService):
    def add(self, a: int, b: int) -> int:
        return a + b

    def fail(self, why: str) -> int:
        raise ValueError(why)

    def slow(self, key: str) -> int:
        if key == "forever":
            FOREVER.wait(60)
        return 1


@name("Basic")
class BasicWorkflow(Workflow):
    ping = Channel[str]()

    def sequential(self, n: int) -> int: ...
    def parallel(self, n: int) -> list[int]: ...
    def racing(self) -> str: ...
    def catching(self) -> str: ...
    def failing(self) -> int: ...
    def with_timer(self, seconds: float) -> str: ...
    def with_inline(self) -> list[int]: ...
    def context(self) -> dict[str, object]: ...
    def waiting_for_ping(self, count: int) -> list[str]: ...
    def timed(self) -> str: ...
    def child(self, n: int) -> int: ...
    def children(self, n: int) -> list[int]: ...
    def child_fails(self) -> str: ...
    def statuses(self) -> list[str]: ...
    def changing(self) -> int: ...
    def nested(self) -> list[object]: ...
    def until(self) -> bool: ...
    def signal_other(self, target_id: str) -> str: ...


class BasicWorkflowImpl(BasicWorkflow):
    def __init__(self) -> None:
        self.math = self.new_service(MathService)

    def sequential(self, n: int) -> int:
        total = 0
        for i in range(n):
            total = self.math.add(total, i)
        return total

    def parallel(self, n: int) -> list[int]:
        deferreds = [self.dispatch(self.math.add, i, i) for i in range(n)]
        return all_of(*deferreds).result()

    def racing(self) -> str:
        fast = self.dispatch(self.math.add, 1, 1)
        slow = self.timer(timedelta(seconds=30))
        winner = any_of(fast, slow).result()
        return f"winner {winner}"

    def catching(self) -> str:
        try:
            self.math.fail("expected")
        except TaskFailedError as exc:
            return f"caught {exc.last_error.name}: {exc.last_error.message}"
        return "not caught"

    def failing(self) -> int:
        return self.math.fail("boom")

    def with_timer(self, seconds: float) -> str:
        fired = self.timer(timedelta(seconds=seconds)).result()
        return f"fired {fired.year > 2000}"

    def with_inline(self) -> list[int]:
        import random

        value = self.inline(lambda: random.randint(0, 10**9))
        again = self.math.add(value, 0)
        return [value, again]

    def context(self) -> dict[str, object]:
        return {
            "id": self.workflow_id,
            "name": self.workflow_name,
            "tags": sorted(self.tags),
            "meta": {k: v.decode() for k, v in self.meta.items()},
            "method": self.method_name,
        }

    def waiting_for_ping(self, count: int) -> list[str]:
        received = [self.ping.receive().result() for _ in range(count)]
        return received

    def timed(self) -> str:
        slow = self.new_service(MathService, timeout=0.2)
        try:
            slow.slow("forever")
        except TimeoutError:
            return "timed out"
        return "finished"

    def child(self, n: int) -> int:
        child = self.new_workflow(BasicWorkflow)
        return child.sequential(n) + 1000

    def children(self, n: int) -> list[int]:
        child = self.new_workflow(BasicWorkflow)
        return all_of(*(self.dispatch(child.sequential, i) for i in range(n))).result()

    def child_fails(self) -> str:
        try:
            self.new_workflow(BasicWorkflow).failing()
        except WorkflowFailedError as exc:
            return f"child failed: {exc}"
        return "no"

    def statuses(self) -> list[str]:
        d = self.dispatch(self.math.add, 1, 2)
        before = d.status()
        d.result()
        after = d.status()
        return [before.value, after.value, DeferredStatus.COMPLETED.value]

    def nested(self) -> list[object]:
        fast_or_timer = any_of(
            self.dispatch(self.math.add, 1, 1), self.timer(timedelta(seconds=30))
        )
        both = all_of(self.dispatch(self.math.add, 2, 2), self.dispatch(self.math.add, 3, 3))
        return all_of(fast_or_timer, both).result()

    def until(self) -> bool:
        import time

        start = self.inline(time.time)  # the clock, read once and recorded
        due = datetime.fromtimestamp(start + 0.05, tz=timezone.utc)
        return self.timer_until(due).result() == due

    def signal_other(self, target_id: str) -> str:
        self.get_workflow_by_id(LoyaltyWorkflow, target_id).points.send(100)
        return "sent"

    def changing(self) -> int:
        first = self.math.add(1, 1)
        if GATES.get("changed"):
            second = self.math.add(100, 0)  # a task where the history has a timer
        else:
            self.timer(timedelta(seconds=60)).result()
            second = 0
        return first + second


# -- async twins: the same workflows written with `async def` methods and `await` ---------------


@name("Math")
class AsyncMathService:
    """The Math service as async code declares it: its calls are awaited (the service itself is
    MathServiceImpl, sync: an interface only says how callers see it)."""

    async def add(self, a: int, b: int) -> int: ...
    async def fail(self, why: str) -> int: ...
    async def slow(self, key: str) -> int: ...


@name("AsyncBasic")
class AsyncBasicWorkflow(Workflow):
    ping = Channel[str]()

    async def sequential(self, n: int) -> int: ...
    async def parallel(self, n: int) -> list[int]: ...
    async def racing(self) -> str: ...
    async def catching(self) -> str: ...
    async def failing(self) -> int: ...
    async def with_timer(self, seconds: float) -> str: ...
    async def with_inline(self) -> list[int]: ...
    def context(self) -> dict[str, object]: ...  # sync and async methods mix in one class
    async def waiting_for_ping(self, count: int) -> list[str]: ...
    async def timed(self) -> str: ...
    async def child(self, n: int) -> int: ...
    async def children(self, n: int) -> list[int]: ...
    async def child_fails(self) -> str: ...
    async def statuses(self) -> list[str]: ...
    async def nested(self) -> list[object]: ...
    async def until(self) -> bool: ...
    async def changing(self) -> int: ...
    async def sync_stub_call(self, n: int) -> int: ...
    async def sleeps(self) -> str: ...
    async def gathers(self) -> list[int]: ...
    async def sleeps_zero(self) -> str: ...
    async def inline_coroutine(self) -> int: ...


class AsyncBasicWorkflowImpl(AsyncBasicWorkflow):
    def __init__(self) -> None:
        self.math = self.new_service(AsyncMathService)

    async def sequential(self, n: int) -> int:
        total = 0
        for i in range(n):
            total = await self._add(total, i)
        return total

    async def _add(self, a: int, b: int) -> int:  # async helpers compose with plain `await`
        return await self.math.add(a, b)

    async def parallel(self, n: int) -> list[int]:
        return await all_of(*(self.dispatch(self.math.add, i, i) for i in range(n)))

    async def racing(self) -> str:
        fast = self.dispatch(self.math.add, 1, 1)
        winner = await any_of(fast, self.timer(timedelta(seconds=30)))
        return f"winner {winner}"

    async def catching(self) -> str:
        try:
            await self.math.fail("expected")
        except TaskFailedError as exc:
            return f"caught {exc.last_error.name}: {exc.last_error.message}"
        return "not caught"

    async def failing(self) -> int:
        return await self.math.fail("boom")

    async def with_timer(self, seconds: float) -> str:
        fired = await self.timer(timedelta(seconds=seconds))
        return f"fired {fired.year > 2000}"

    async def with_inline(self) -> list[int]:
        import random

        value = self.inline(lambda: random.randint(0, 10**9))
        again = await self.math.add(value, 0)
        return [value, again]

    def context(self) -> dict[str, object]:
        return {
            "id": self.workflow_id,
            "name": self.workflow_name,
            "tags": sorted(self.tags),
            "meta": {k: v.decode() for k, v in self.meta.items()},
            "method": self.method_name,
        }

    async def waiting_for_ping(self, count: int) -> list[str]:
        return [await self.ping.receive() for _ in range(count)]

    async def timed(self) -> str:
        slow = self.new_service(AsyncMathService, timeout=0.2)
        try:
            await slow.slow("forever")
        except TimeoutError:
            return "timed out"
        return "finished"

    async def child(self, n: int) -> int:
        return await self.new_workflow(AsyncBasicWorkflow).sequential(n) + 1000

    async def children(self, n: int) -> list[int]:
        child = self.new_workflow(AsyncBasicWorkflow)
        return await all_of(*(self.dispatch(child.sequential, i) for i in range(n)))

    async def child_fails(self) -> str:
        try:
            await self.new_workflow(AsyncBasicWorkflow).failing()
        except WorkflowFailedError as exc:
            return f"child failed: {exc}"
        return "no"

    async def statuses(self) -> list[str]:
        d = self.dispatch(self.math.add, 1, 2)
        before = d.status()
        await d
        after = d.status()
        return [before.value, after.value, DeferredStatus.COMPLETED.value]

    async def nested(self) -> list[object]:
        fast_or_timer = any_of(
            self.dispatch(self.math.add, 1, 1), self.timer(timedelta(seconds=30))
        )
        both = all_of(self.dispatch(self.math.add, 2, 2), self.dispatch(self.math.add, 3, 3))
        return await all_of(fast_or_timer, both)

    async def until(self) -> bool:
        import time

        start = self.inline(time.time)
        due = datetime.fromtimestamp(start + 0.05, tz=timezone.utc)
        return await self.timer_until(due) == due

    async def changing(self) -> int:
        first = await self.math.add(1, 1)
        if GATES.get("changed"):
            second = await self.math.add(100, 0)  # a task where the history has a timer
        else:
            await self.timer(timedelta(seconds=60))
            second = 0
        return first + second

    async def sync_stub_call(self, n: int) -> int:
        # a stub of a sync-declared interface answers with the value, in async code too
        return self.new_service(MathService).add(n, 1)

    async def sleeps(self) -> str:
        await asyncio.sleep(1)
        return "slept"

    async def gathers(self) -> list[int]:
        one, two = self.dispatch(self.math.add, 1, 0), self.dispatch(self.math.add, 2, 0)
        return list(await asyncio.gather(one, two))

    async def sleeps_zero(self) -> str:
        await asyncio.sleep(0)
        return "slept"

    async def inline_coroutine(self) -> int:
        async def fetch() -> int:
            return 1

        return self.inline(fetch)  # type: ignore[arg-type]


@name("Loyalty")
class LoyaltyWorkflow(Workflow):
    points = Channel[int]()
    events = Channel[dict]()

    def start(self, goal: int) -> int: ...
    def bonus(self, extra: int) -> int: ...
    def level(self) -> str: ...
    def wait_event(self) -> dict: ...
    def wait_or_timeout(self, seconds: float) -> str: ...


class LoyaltyWorkflowImpl(LoyaltyWorkflow):
    def __init__(self) -> None:
        self.total = 0
        self.history: list[int] = []

    def start(self, goal: int) -> int:
        while self.total < goal:
            got = self.points.receive().result()
            self.total += got
            self.history.append(got)
        return self.total

    def bonus(self, extra: int) -> int:
        self.total += extra
        self.history.append(extra)
        return self.total

    def level(self) -> str:
        return "gold" if self.total >= 100 else "silver"

    def wait_event(self) -> dict:
        return self.events.receive(filter={"type": "purchase", "shop.id": 7}).result()

    def wait_or_timeout(self, seconds: float) -> str:
        signal = self.points.receive()
        timer = self.timer(timedelta(seconds=seconds))
        any_of(signal, timer).result()
        return "signal" if signal.status() == DeferredStatus.COMPLETED else "timeout"


@name("AsyncLoyalty")
class AsyncLoyaltyWorkflow(Workflow):
    points = Channel[int]()
    events = Channel[dict]()

    async def start(self, goal: int) -> int: ...
    def bonus(self, extra: int) -> int: ...
    def level(self) -> str: ...
    async def wait_event(self) -> dict: ...
    async def wait_or_timeout(self, seconds: float) -> str: ...


class AsyncLoyaltyWorkflowImpl(AsyncLoyaltyWorkflow):
    def __init__(self) -> None:
        self.total = 0
        self.history: list[int] = []

    async def start(self, goal: int) -> int:
        while self.total < goal:
            got = await self.points.receive()
            self.total += got
            self.history.append(got)
        return self.total

    def bonus(self, extra: int) -> int:
        self.total += extra
        self.history.append(extra)
        return self.total

    def level(self) -> str:
        return "gold" if self.total >= 100 else "silver"

    async def wait_event(self) -> dict:
        return await self.events.receive(filter={"type": "purchase", "shop.id": 7})

    async def wait_or_timeout(self, seconds: float) -> str:
        signal = self.points.receive()
        await any_of(signal, self.timer(timedelta(seconds=seconds)))
        return "signal" if signal.status() == DeferredStatus.COMPLETED else "timeout"


@name("Sleepy")
class SleepyWorkflow(Workflow):
    def nap(self, seconds: float) -> str: ...
    def parent_of_nap(self, seconds: float) -> str: ...


class SleepyWorkflowImpl(SleepyWorkflow):
    def nap(self, seconds: float) -> str:
        self.timer(timedelta(seconds=seconds)).result()
        return "rested"

    def parent_of_nap(self, seconds: float) -> str:
        child = self.new_workflow(SleepyWorkflow)
        try:
            return child.nap(seconds)
        except CanceledError:
            return "child canceled"


@name("Durable")
class DurableWorkflow(Workflow):
    def run(self, n: int, pause: float) -> int: ...


class DurableWorkflowImpl(DurableWorkflow):
    def __init__(self) -> None:
        self.math = self.new_service(MathService)

    def run(self, n: int, pause: float) -> int:
        total = self.math.add(n, 1)
        self.timer(timedelta(seconds=pause)).result()
        total = self.math.add(total, 1)
        return self.math.add(total, 1)


@name("AsyncDurable")
class AsyncDurableWorkflow(Workflow):
    async def run(self, n: int, pause: float) -> int: ...


class AsyncDurableWorkflowImpl(AsyncDurableWorkflow):
    def __init__(self) -> None:
        self.math = self.new_service(AsyncMathService)

    async def run(self, n: int, pause: float) -> int:
        total = await self.math.add(n, 1)
        await self.timer(timedelta(seconds=pause))
        total = await self.math.add(total, 1)
        return await self.math.add(total, 1)


class ArgsChanging(Workflow):
    def run(self) -> int: ...


class ArgsChangingImpl(ArgsChanging):
    def run(self) -> int:
        first = self.new_service(MathService).add(1, GATES.get("delta", 1))
        self.timer(timedelta(seconds=60)).result()
        return first


@name("Simple")
class SimpleCheck(ArgsChanging):
    pass


class SimpleCheckImpl(SimpleCheck, ArgsChangingImpl):
    pass


@name("Strict")
class StrictCheck(ArgsChanging):
    pass


class StrictCheckImpl(StrictCheck, ArgsChangingImpl):
    pass
