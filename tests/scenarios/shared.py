"""The shared fixtures of Infinitic's integration suite (catalog §0), re-created in Python.

`UtilService` (with its parent interface), `TestService`, `UtilWorkflow`, the `Obj` and `Parent`
value hierarchies, `CustomException`, and the worker registration of all of them (`SERVICES`,
`WORKFLOWS`: the equivalent of Infinitic's register.yml). Every service and workflow is
registered under its interface's qualified name, like Infinitic's fully-qualified names.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Union

from infinitic import Channel, DeferredStatus, Workflow, any_of, retry, task, timeout

# -- values ----------------------------------------------------------------------------------


@dataclass
class Obj:
    """Base of the signal values of the channel scenarios (Infinitic's sealed class `Obj`)."""


@dataclass
class Obj1(Obj):
    foo: str
    bar: int


@dataclass
class Obj2(Obj):
    foo: str
    bar: int


@dataclass
class Parent:
    """Declared return type of `UtilService.polymorphism` (M5)."""


@dataclass
class Child1(Parent):
    name: str = ""


class CustomException(Exception):
    """Carries public attributes that `ErrorInfo.get_custom_property` must read back (E5, E6)."""

    def __init__(self) -> None:
        super().__init__("custom")
        self.custom_string = "42"
        self.custom_int = 42
        self.custom_double = 42.0
        self.custom_list = list(range(10))


# -- UtilService -----------------------------------------------------------------------------


class ParentInterface:
    """A base class of the service interface: its methods are tasks of `UtilService` too."""

    def parent(self) -> str: ...


class UtilService(ParentInterface):
    def concat(self, a: str, b: str) -> str: ...
    def reverse(self, value: str) -> str: ...
    def await_ms(self, ms: int) -> int: ...
    def workflow_id(self) -> str | None: ...
    def workflow_name(self) -> str | None: ...
    def tags(self) -> set[str]: ...
    def meta(self) -> dict[str, bytes]: ...
    def get_retry(self) -> float | None: ...
    def polymorphism(self) -> Parent: ...
    def failing_with_exception(self) -> str: ...
    def failing_with_custom_exception(self) -> str: ...
    def failing_with_nested_custom_exception(self) -> str: ...
    def success_at_retry(self) -> str: ...
    def retry_failed_tasks(self, workflow_name: str, workflow_id: str) -> None: ...
    def cancel_workflow(self, workflow_name: str, workflow_id: str) -> None: ...
    @timeout(seconds=0.1)  # on the interface: the caller's deadline (engine-side)
    def with_service_timeout(self, ms: int) -> int: ...
    def with_execution_timeout(self, ms: int) -> int: ...
    @timeout(seconds=0.1)
    def try_again(self) -> int: ...


@dataclass
class ManagedTimeoutFlags:
    """What `with_managed_execution_timeout` saw (H9); reset by the tests that read it."""

    on_timeout: bool = False
    has_timed_out: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


MANAGED = ManagedTimeoutFlags()


def _sleep(ms: int) -> None:
    # a task that must take time: a sleep here IS the behaviour under test, not a synchronisation
    threading.Event().wait(ms / 1000)


def interface_named(workflow_name: str) -> type:
    """The interface class registered as `workflow_name` (names here are qualified names)."""
    module, _, attribute = workflow_name.rpartition(".")
    cls: type = getattr(importlib.import_module(module), attribute)
    return cls


@retry(maximum_retries=1, minimum_seconds=1.0, random_factor=0.0)
class UtilServiceImpl(UtilService):
    def parent(self) -> str:
        return "ok"

    def concat(self, a: str, b: str) -> str:
        return a + b

    def reverse(self, value: str) -> str:
        return value[::-1]

    def await_ms(self, ms: int) -> int:
        _sleep(ms)
        return ms

    def workflow_id(self) -> str | None:
        return task.workflow_id

    def workflow_name(self) -> str | None:
        return task.workflow_name

    def tags(self) -> set[str]:
        return set(task.tags)

    def meta(self) -> dict[str, bytes]:
        return {k: v for k, v in task.meta.items() if not k.startswith("infinitic.")}

    def get_retry(self) -> float | None:
        policy: Any = task.with_retry
        if policy is None:
            return None
        delay: float | None = policy.get_seconds_before_retry(0, Exception("probe"))
        return delay

    def polymorphism(self) -> Parent:
        return Child1("child1")

    def failing_with_exception(self) -> str:
        raise Exception("sorry")

    def failing_with_custom_exception(self) -> str:
        raise CustomException()

    def failing_with_nested_custom_exception(self) -> str:
        try:
            raise CustomException()
        except CustomException as exc:
            raise Exception("sorry") from exc

    @retry(maximum_retries=0)
    def success_at_retry(self) -> str:
        if task.retry_sequence == 0:
            raise Exception("sorry, first sequence")
        return "ok"

    def retry_failed_tasks(self, workflow_name: str, workflow_id: str) -> None:
        _sleep(50)
        client = task.client
        stub = client.get_workflow_by_id(interface_named(workflow_name), workflow_id)
        client.retry_tasks(stub, task_status=DeferredStatus.FAILED)

    def cancel_workflow(self, workflow_name: str, workflow_id: str) -> None:
        _sleep(50)
        client = task.client
        client.cancel(client.get_workflow_by_id(interface_named(workflow_name), workflow_id))

    def with_service_timeout(self, ms: int) -> int:
        _sleep(ms)
        return ms

    @timeout(seconds=0.1)  # on the implementation: the runtime (executor-side) timeout
    def with_execution_timeout(self, ms: int) -> int:
        _sleep(ms)
        return ms

    def try_again(self) -> int:
        if task.retry_sequence == 0:
            _sleep(10_000)
        return task.retry_sequence


class TestService:
    __test__ = False  # not a pytest class

    def log(self) -> str: ...
    def get_timeout(self) -> float | None: ...


class TestServiceImpl(TestService):
    def log(self) -> str:
        return "log"

    def get_timeout(self) -> float | None:
        policy: Any = task.with_timeout
        if policy is None:
            return None
        seconds: float | None = policy.get_timeout_in_seconds()
        return seconds


# -- workflows -------------------------------------------------------------------------------


class ChannelsWorkflow(Workflow):
    """The channel scenarios' workflow (catalog §D; UtilWorkflow's children use `channel1`)."""

    channel_obj = Channel[Obj]()
    channel_str_a = Channel[str]()
    channel_str_b = Channel[str]()
    channel_union = Channel[Union[Obj1, Obj2]]()  # noqa: UP007 - the pinned spelling (DESIGN §5b)

    def channel1(self) -> str: ...
    def channel2(self) -> str: ...
    def channel3(self) -> str: ...
    def channel4(self) -> Obj: ...
    def channel4bis(self) -> Obj: ...
    def channel5(self) -> Obj1: ...
    def channel5bis(self) -> Obj1: ...
    def channel6(self) -> str: ...
    def channel6bis(self) -> str: ...
    def channel7(self, count: int, limit: int | None) -> str: ...
    def channel8(self) -> str: ...
    def channel9(self) -> str: ...
    def channel_union_types(self) -> str: ...


class ChannelsWorkflowImpl(ChannelsWorkflow):
    def __init__(self) -> None:
        self.util = self.new_service(UtilService)

    def channel1(self) -> str:
        return self.channel_str_a.receive().result()

    def _or_instant(self, seconds: float) -> str:
        value = any_of(self.channel_str_a.receive(), self.timer(timedelta(seconds=seconds)))
        result = value.result()
        return "Instant" if isinstance(result, datetime) else str(result)

    def channel2(self) -> str:
        return self._or_instant(1)

    def channel3(self) -> str:
        self.timer(timedelta(seconds=1)).result()
        return self._or_instant(0.1)

    def channel4(self) -> Obj:
        return self.channel_obj.receive().result()

    def channel4bis(self) -> Obj:
        return self.channel_obj.receive(filter={"foo": "foo"}).result()

    def channel5(self) -> Obj1:
        return self.channel_obj.receive(type=Obj1).result()

    def channel5bis(self) -> Obj1:
        return self.channel_obj.receive(type=Obj1, filter={"foo": "foo"}).result()

    def channel6(self) -> str:
        first = self.channel_obj.receive(type=Obj1)
        second = self.channel_obj.receive(type=Obj2)
        o1, o2 = first.result(), second.result()
        return o1.foo + o2.foo + str(o1.bar * o2.bar)

    def channel6bis(self) -> str:
        first = self.channel_obj.receive(type=Obj1, filter={"foo": "foo"})
        second = self.channel_obj.receive(type=Obj2, filter={"foo": "foo"})
        o1, o2 = first.result(), second.result()
        return o1.foo + o2.foo + str(o1.bar * o2.bar)

    def channel7(self, count: int, limit: int | None) -> str:
        deferred = self.channel_str_a.receive(limit=limit)
        signals = ""
        for _ in range(count):
            signals += deferred.result()
            self.util.await_ms(50)
        return signals

    def channel8(self) -> str:
        deferred = self.channel_str_a.receive()
        statuses = str(deferred.status() == DeferredStatus.COMPLETED).lower()
        self.timer(timedelta(milliseconds=300)).result()
        statuses += str(deferred.status() == DeferredStatus.COMPLETED).lower()
        deferred.result()
        statuses += str(deferred.status() == DeferredStatus.COMPLETED).lower()
        return statuses

    def channel9(self) -> str:
        deferred = self.channel_str_a.receive(limit=1)
        for _ in range(2):
            any_of(deferred, self.timer(timedelta(milliseconds=10))).result()
            if deferred.status() == DeferredStatus.COMPLETED:
                return "nok"
        return "ok"

    def channel_union_types(self) -> str:
        first = self.channel_union.receive(type=Obj2)
        second = self.channel_union.receive()
        o2, any_obj = first.result(), second.result()
        return f"{type(o2).__name__}:{o2.foo} {type(any_obj).__name__}:{any_obj.foo}"


class UtilWorkflow(Workflow):
    channel_a = Channel[str]()

    def concat(self, value: str) -> str: ...
    def add(self, value: str) -> str: ...
    def receive(self, value: str) -> str: ...
    def factorial(self, n: int) -> int: ...
    def cancel_child1(self) -> int: ...
    def cancel_child2(self) -> int: ...


class UtilWorkflowImpl(UtilWorkflow):
    def __init__(self) -> None:
        self.log = ""
        self.util = self.new_service(UtilService)

    def concat(self, value: str) -> str:
        self.log = self.util.concat(self.log, value)
        return self.log

    def add(self, value: str) -> str:
        self.log += value
        return self.log

    def receive(self, value: str) -> str:
        self.log += value
        signal = self.channel_a.receive().result()
        self.log += signal
        return self.log

    def factorial(self, n: int) -> int:
        if n > 1:
            return n * self.new_workflow(UtilWorkflow).factorial(n - 1)
        return 1

    def cancel_child1(self) -> int:
        child = self.dispatch(self.new_workflow(ChannelsWorkflow).channel1)
        self.util.cancel_workflow(_name(ChannelsWorkflow), child.id)
        child.result()
        return self.util.await_ms(200)

    def cancel_child2(self) -> int:
        child = self.dispatch(self.new_workflow(ChannelsWorkflow).channel1)
        self.dispatch(self.util.cancel_workflow, _name(ChannelsWorkflow), child.id)
        return self.util.await_ms(200)


def _name(interface: type) -> str:
    return f"{interface.__module__}.{interface.__qualname__}"


# -- registration (Infinitic's register.yml) -------------------------------------------------

# one automatic retry after 1.0 s: exponential backoff, minimum 1 s, random factor 0
UTIL_RETRY = {"maximumRetries": 1, "minimumSeconds": 1, "randomFactor": 0}

SERVICES: list[dict[str, Any]] = [
    {
        "name": _name(UtilService),
        "class": _name(UtilServiceImpl),
        "concurrency": 5,
        "retry": UTIL_RETRY,
    },
    {"name": _name(TestService), "class": _name(TestServiceImpl), "timeoutSeconds": 1000},
]
WORKFLOWS: list[dict[str, Any]] = [
    {"name": _name(UtilWorkflow), "class": _name(UtilWorkflowImpl), "concurrency": 4},
    {"name": _name(ChannelsWorkflow), "class": _name(ChannelsWorkflowImpl), "concurrency": 4},
]
