"""The batch scenarios' service and workflow (catalog §O, Infinitic's `BatchService` and
`BatchesWorkflow`), registered as `batchService` and `batchWorkflow`: executor concurrency 1,
batches of 10 messages or 0.25 s, for the service and for the workflow's executor and engines."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from infinitic import Workflow, all_of, batch, name, task


@dataclass
class MyPair:
    foo: int
    bar: int


@dataclass
class Record:
    """The size of every batch the service ran, and how many inline steps ran at once."""

    sizes: list[int] = field(default_factory=list)
    running: int = 0
    most_at_once: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.sizes.clear()
            self.running = self.most_at_once = 0

    def batch(self, size: int) -> None:
        with self.lock:
            self.sizes.append(size)

    def average(self) -> float:
        with self.lock:
            return sum(self.sizes) / len(self.sizes)


RECORD = Record()


@name("batchService")
class BatchService:
    def foo(self, foo: int) -> int: ...
    def foo2(self, foo: int, bar: int) -> int: ...
    def foo3(self, foo: int) -> MyPair: ...
    def foo4(self, pair: MyPair) -> MyPair: ...
    def foo5(self, foo: int, bar: int) -> None: ...
    def with_key(self, n: int) -> bool: ...


class BatchServiceImpl(BatchService):
    # the single-task methods are what a worker without `batch:` config would run
    def foo(self, foo: int) -> int:
        return foo

    def foo2(self, foo: int, bar: int) -> int:
        return foo + bar

    def foo3(self, foo: int) -> MyPair:
        return MyPair(foo, 1)

    def foo4(self, pair: MyPair) -> MyPair:
        return pair

    def foo5(self, foo: int, bar: int) -> None:
        return None

    def with_key(self, n: int) -> bool:
        return True

    @batch("foo")
    def foo_batch(self, all_args: dict[str, int]) -> dict[str, int]:
        RECORD.batch(len(all_args))
        return {task_id: foo * 10 for task_id, foo in all_args.items()}

    @batch("foo2")
    def foo2_batch(self, all_args: dict[str, Any]) -> dict[str, int]:
        RECORD.batch(len(all_args))
        return {task_id: args.foo + args.bar for task_id, args in all_args.items()}

    @batch("foo3")
    def foo3_batch(self, all_args: dict[str, int]) -> dict[str, MyPair]:
        RECORD.batch(len(all_args))
        return {task_id: MyPair(foo, len(all_args)) for task_id, foo in all_args.items()}

    @batch("foo4")
    def foo4_batch(self, all_args: dict[str, MyPair]) -> dict[str, MyPair]:
        RECORD.batch(len(all_args))
        return {task_id: MyPair(p.bar, p.foo) for task_id, p in all_args.items()}

    @batch("foo5")
    def foo5_batch(self, all_args: dict[str, MyPair]) -> None:
        RECORD.batch(len(all_args))

    @batch("with_key")
    def with_key_batch(self, all_args: dict[str, int]) -> dict[str, bool]:
        RECORD.batch(len(all_args))
        keys = {task.get_context(task_id).batch_key for task_id in all_args}
        same = len(keys) == 1 and None not in keys
        return {task_id: same for task_id in all_args}


@name("batchWorkflow")
class BatchWorkflow(Workflow):
    def foo(self, foo: int) -> int: ...
    def foo2(self, foo: int, bar: int) -> int: ...
    def foo3(self, foo: int) -> MyPair: ...
    def foo4(self, foo: int, bar: int) -> MyPair: ...
    def foo5(self, foo: int, bar: int) -> None: ...
    def with_key(self) -> bool: ...
    def inline_sleep(self) -> int: ...


def _sleep_one_second() -> int:
    with RECORD.lock:
        RECORD.running += 1
        RECORD.most_at_once = max(RECORD.most_at_once, RECORD.running)
    threading.Event().wait(1.0)  # the inline step's work: its duration is the subject (O12)
    with RECORD.lock:
        RECORD.running -= 1
    return 1


class BatchWorkflowImpl(BatchWorkflow):
    def __init__(self) -> None:
        self.service = self.new_service(BatchService)

    def foo(self, foo: int) -> int:
        return self.service.foo(foo)

    def foo2(self, foo: int, bar: int) -> int:
        return self.service.foo2(foo, bar)

    def foo3(self, foo: int) -> MyPair:
        return self.service.foo3(foo)

    def foo4(self, foo: int, bar: int) -> MyPair:
        return self.service.foo4(MyPair(foo, bar))

    def foo5(self, foo: int, bar: int) -> None:
        return self.service.foo5(foo, bar)

    def with_key(self) -> bool:
        deferreds = []
        for _ in range(20):
            key = self.inline(lambda: random.choice(["Foo", "Bar"]))
            keyed = self.new_service(BatchService, meta={"batchKey": key.encode()})
            deferreds.append(self.dispatch(keyed.with_key, 0))
        return all(all_of(*deferreds).result())

    def inline_sleep(self) -> int:
        return self.inline(_sleep_one_second)


BATCH = {"maxMessages": 10, "maxSeconds": 0.25}


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


SERVICES = [
    {"name": "batchService", "class": _name(BatchServiceImpl), "concurrency": 1, "batch": BATCH}
]
WORKFLOWS = [
    {"name": "batchWorkflow", "class": _name(BatchWorkflowImpl), "concurrency": 1, "batch": BATCH}
]
