"""The timeout scenarios' workflows and service (catalog §H, Infinitic's `TimeoutsWorkflow`,
`ITimeoutWorkflow` and `UtilService.withManagedExecutionTimeout`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from infinitic import TimeoutError, WithTimeout, Workflow, task, timeout
from tests.scenarios.shared import UtilService


@dataclass
class ManagedFlags:
    """What the managed task saw: its on_timeout callback ran, and it saw `has_timed_out`."""

    on_timeout: bool = False
    has_timed_out: bool = False


MANAGED = ManagedFlags()


class TimeoutService:
    """UtilService's timeout methods, with a 0.5 s deadline where Infinitic's is 0.1 s: a round
    trip through a broker on a loaded 2-core machine can take 0.1 s, and the scenarios that must
    NOT time out would then fail."""

    def with_managed_execution_timeout(self) -> float: ...
    @timeout(seconds=0.5)  # on the interface: the caller's deadline (engine-side)
    def with_service_timeout(self, ms: int) -> int: ...


class GraceOf20ms:
    """A runtime timeout of 100 ms, then 20 ms for the task to end."""

    def get_timeout_in_seconds(self) -> float | None:
        return 0.1

    def get_grace_period_after_timeout_in_seconds(self) -> float:
        return 0.02


class TimeoutServiceImpl(TimeoutService):
    def with_service_timeout(self, ms: int) -> int:
        threading.Event().wait(ms / 1000)  # the task's work: its duration is the subject
        return ms

    @timeout(GraceOf20ms)
    def with_managed_execution_timeout(self) -> float:
        began = time.monotonic()
        task.on_timeout(lambda: setattr(MANAGED, "on_timeout", True))
        while not task.has_timed_out:  # the task's own work loop, watching its deadline
            threading.Event().wait(0.005)
        MANAGED.has_timed_out = True
        return (time.monotonic() - began) * 1000


class TimeoutsWorkflow(Workflow):
    @timeout(seconds=1)  # on the interface: the callers' deadline
    def with_timeout_on_method(self, ms: int) -> int: ...
    def with_timeout_on_child(self, ms: int) -> int: ...
    def with_caught_timeout_on_child(self, ms: int) -> int: ...
    def with_timeout_on_task(self, ms: int) -> int: ...
    def with_caught_timeout_on_task(self, ms: int) -> int: ...
    def with_managed_timeout_on_task_execution(self) -> float: ...
    def with_timeout_on_task_execution(self, ms: int) -> int: ...
    def with_manual_retry(self) -> int: ...


class TimeoutsWorkflowImpl(TimeoutsWorkflow):
    def __init__(self) -> None:
        self.util = self.new_service(UtilService)
        self.timeouts = self.new_service(TimeoutService)
        self.child = self.new_workflow(TimeoutsWorkflow)

    def with_timeout_on_method(self, ms: int) -> int:
        return self.util.await_ms(ms)

    def with_timeout_on_child(self, ms: int) -> int:
        return self.child.with_timeout_on_method(ms)

    def with_caught_timeout_on_child(self, ms: int) -> int:
        try:
            return self.child.with_timeout_on_method(ms)
        except TimeoutError:
            return -1

    def with_timeout_on_task(self, ms: int) -> int:
        return self.timeouts.with_service_timeout(ms)

    def with_caught_timeout_on_task(self, ms: int) -> int:
        try:
            return self.timeouts.with_service_timeout(ms)
        except TimeoutError:
            return -1

    def with_managed_timeout_on_task_execution(self) -> float:
        return self.timeouts.with_managed_execution_timeout()

    def with_timeout_on_task_execution(self, ms: int) -> int:
        return self.util.with_execution_timeout(ms)

    def with_manual_retry(self) -> int:
        return self.util.try_again()


class ITimeoutWorkflow(Workflow, WithTimeout):
    """A workflow interface implementing WithTimeout: a 1 s deadline for every method."""

    def with_timeout_on_method(self, ms: int) -> int: ...

    def get_timeout_in_seconds(self) -> float | None:
        return 1.0


class ITimeoutWorkflowImpl(ITimeoutWorkflow):
    def with_timeout_on_method(self, ms: int) -> int:
        return self.new_service(UtilService).await_ms(ms)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


SERVICES = [
    {
        "name": _name(TimeoutService),
        "class": _name(TimeoutServiceImpl),
        "concurrency": 5,  # like UtilService: a task past its deadline still holds a thread
        "retry": {"maximumRetries": 0},
    }
]
WORKFLOWS = [
    {"name": _name(TimeoutsWorkflow), "class": _name(TimeoutsWorkflowImpl), "concurrency": 4},
    {"name": _name(ITimeoutWorkflow), "class": _name(ITimeoutWorkflowImpl), "concurrency": 2},
]
