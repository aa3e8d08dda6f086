"""Services used by the tests, importable by class path from worker configs."""

from __future__ import annotations

import asyncio
import enum
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from infinitic import WithRetry, WithTimeout, name, retry, task, timeout

# A registry the tests read to see what ran; reset by each test that uses it.
RUNS: list[dict[str, object]] = []
BARRIER: dict[str, threading.Barrier] = {}
GATE = threading.Event()


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Order:
    id: int
    color: Color
    at: datetime
    items: list[str] = field(default_factory=list)
    note: str | None = None


def record(**extra: object) -> None:
    ctx = task.get_context()
    RUNS.append(
        {
            "task_id": ctx.task_id,
            "service": ctx.service_name,
            "task": ctx.task_name,
            "retry_index": ctx.retry_index,
            "retry_sequence": ctx.retry_sequence,
            "last_error": ctx.last_error,
            "tags": ctx.tags,
            "meta": dict(ctx.meta),
            "thread": threading.current_thread().name,
            **extra,
        }
    )


@name("Echo")
class EchoService:
    def echo(self, value: str) -> str: ...
    def order(self, order: Order) -> Order: ...
    def context(self) -> dict[str, object]: ...
    def meta_roundtrip(self, fail_times: int) -> str: ...
    def wait_barrier(self, key: str) -> int: ...
    def peek_from_thread(self) -> str: ...
    async def async_echo(self, value: str) -> str: ...
    def add(self, a: int, b: int = 10) -> int: ...
    def block(self) -> str: ...


class EchoServiceImpl(EchoService):
    def echo(self, value: str) -> str:
        record(value=value)
        return value

    def order(self, order: Order) -> Order:
        assert isinstance(order.color, Color) and isinstance(order.at, datetime)
        order.items.append("checked")
        return order

    def context(self) -> dict[str, object]:
        return {
            "task_id": task.task_id,
            "service_name": task.service_name,
            "task_name": task.task_name,
            "workflow_id": task.workflow_id,
            "workflow_name": task.workflow_name,
            "tags": sorted(task.tags),
            "meta": {k: v.decode() for k, v in task.meta.items()},
            "retry_index": task.retry_index,
            "retry_sequence": task.retry_sequence,
            "worker_name": task.worker_name,
            "has_client": task.client is not None,
        }

    @retry(minimum_seconds=0.01, random_factor=0.0, maximum_retries=5)
    def meta_roundtrip(self, fail_times: int) -> str:
        task.meta[f"attempt-{task.retry_index}"] = b"seen"
        record()
        if task.retry_index < fail_times:
            raise ConnectionError(f"failure #{task.retry_index}")
        return ",".join(sorted(task.meta))

    def wait_barrier(self, key: str) -> int:
        # every party must be inside at the same time, or this times out
        return BARRIER[key].wait(timeout=10)

    def peek_from_thread(self) -> str:
        seen: list[str] = []

        def child() -> None:
            try:
                seen.append(task.task_id)
            except RuntimeError as exc:
                seen.append(f"refused: {exc}")

        t = threading.Thread(target=child)
        t.start()
        t.join()
        return seen[0]

    async def async_echo(self, value: str) -> str:
        await asyncio.sleep(0)
        return f"{value} from {task.task_name}"

    def add(self, a: int, b: int = 10) -> int:
        return a + b

    def block(self) -> str:
        record()
        return "released" if GATE.wait(60) else "gave up"


class Boom(Exception):
    pass


class SubBoom(Boom):
    pass


@name("Flaky")
class FlakyService:
    def fail(self, times: int, kind: str) -> int: ...
    def always(self) -> int: ...
    def hang(self, seconds: float) -> str: ...
    async def async_hang(self, seconds: float) -> str: ...
    def ignored(self) -> int: ...
    def chained(self) -> int: ...


@name("Queued")
class QueuedService:
    def nap(self, seconds: float) -> int: ...
    async def async_nap(self, seconds: float) -> int: ...


# how many QueuedService tasks run now, and the most that ran at once
ACTIVE = {"now": 0, "most": 0}
_ACTIVE_LOCK = threading.Lock()


def _enter() -> None:
    with _ACTIVE_LOCK:
        ACTIVE["now"] += 1
        ACTIVE["most"] = max(ACTIVE["most"], ACTIVE["now"])


def _leave() -> None:
    with _ACTIVE_LOCK:
        ACTIVE["now"] -= 1


@retry(minimum_seconds=0.01, random_factor=0.0, maximum_retries=1)
class QueuedServiceImpl(QueuedService):
    @timeout(seconds=0.6)
    def nap(self, seconds: float) -> int:
        record()
        _enter()
        try:
            time.sleep(seconds)
        finally:
            _leave()
        return task.retry_index

    @timeout(seconds=0.6)
    async def async_nap(self, seconds: float) -> int:
        record()
        _enter()
        try:
            await asyncio.sleep(seconds)
        finally:
            _leave()
        return task.retry_index


@retry(minimum_seconds=0.01, random_factor=0.0, maximum_retries=3, ignored_exceptions=[Boom])
class FlakyServiceImpl(FlakyService):
    def fail(self, times: int, kind: str) -> int:
        record()
        if task.retry_index < times:
            raise ValueError(f"{kind} #{task.retry_index}")
        return task.retry_index

    def always(self) -> int:
        record()
        raise RuntimeError("always fails")

    @timeout(seconds=0.2)
    @retry(minimum_seconds=0.01, random_factor=0.0, maximum_retries=1)
    def hang(self, seconds: float) -> str:
        record()
        if task.retry_index == 0:
            GATE.wait(seconds)
            return "late result"
        return f"done at retry {task.retry_index}"

    @timeout(0.2)
    @retry(minimum_seconds=0.01, random_factor=0.0, maximum_retries=1)
    async def async_hang(self, seconds: float) -> str:
        record()
        if task.retry_index == 0:
            await asyncio.sleep(seconds)
        return f"async done at retry {task.retry_index}"

    def ignored(self) -> int:
        record()
        raise SubBoom("never retry me")

    def chained(self) -> int:
        try:
            raise KeyError("root cause")
        except KeyError as exc:
            raise RuntimeError("outer failure") from exc


# --- resolution order: each rung, from most to least specific --------------------------


class ProtocolTimeout:
    def get_timeout_in_seconds(self) -> float | None:
        return 0.11


class ClassTimeout:
    def get_timeout_in_seconds(self) -> float | None:
        return 0.22


class MethodTimeout:
    def get_timeout_in_seconds(self) -> float | None:
        return 0.33


class TagTimeout:
    """A WithTimeout that reads the task context."""

    def get_timeout_in_seconds(self) -> float | None:
        return 0.44 if "fast" in task.tags else 5.0


class RetryOnce:
    def get_seconds_before_retry(self, retry: int, exception: BaseException) -> float | None:
        return 0.0 if retry < 1 else None


@name("Policies")
class PolicyService:
    def by_method(self) -> float: ...
    def by_class(self) -> float: ...


@timeout(ClassTimeout)
@retry(RetryOnce)
class ClassLevelImpl(PolicyService, WithTimeout, WithRetry):
    @timeout(MethodTimeout)
    @retry(maximum_retries=0)
    def by_method(self) -> float:
        return 0.0

    def by_class(self) -> float:
        return 0.0

    def get_timeout_in_seconds(self) -> float | None:
        return 0.11

    def get_seconds_before_retry(self, retry: int, exception: BaseException) -> float | None:
        return None


class ProtocolLevelImpl(PolicyService):
    def by_method(self) -> float:
        return 0.0

    def by_class(self) -> float:
        return 0.0

    def get_timeout_in_seconds(self) -> float | None:
        return 0.11

    def get_seconds_before_retry(self, retry: int, exception: BaseException) -> float | None:
        return 7.0


class DefaultImpl(PolicyService):
    def by_method(self) -> float:
        return 0.0

    def by_class(self) -> float:
        return 0.0


class SlowByProtocol(PolicyService):
    """Runtime timeout from WithTimeout reading the task context; retries once."""

    def by_method(self) -> float:
        time.sleep(0.3 if "fast" in task.tags else 0.0)
        return task.retry_index

    def by_class(self) -> float:
        return 0.0

    def get_timeout_in_seconds(self) -> float | None:
        return 0.1 if "fast" in task.tags else None

    def get_seconds_before_retry(self, retry: int, exception: BaseException) -> float | None:
        return 0.0 if retry < 1 else None
