"""Catalog §E: errors, failure propagation, cancel, retry, unknown ids (ErrorsWorkflow)."""

from __future__ import annotations

from datetime import timedelta

from infinitic import (
    TaskFailedError,
    UnknownWorkflowError,
    Workflow,
    WorkflowFailedError,
)
from tests.scenarios.shared import UtilService


class ErrorsWorkflow(Workflow):
    def waiting(self) -> bool: ...
    def failing1(self) -> str: ...
    def failing2(self) -> str: ...
    def failing2a(self) -> int: ...
    def failing3(self) -> str: ...
    def failing3b(self) -> str: ...
    def failing3bb(self) -> str: ...
    def failing4(self) -> int: ...
    def failing5(self) -> int: ...
    def failing7(self) -> str: ...
    def failing7bis(self) -> int: ...
    def failing7ter(self) -> str: ...
    def failing8(self) -> str: ...
    def failing9(self) -> bool: ...
    def failing10(self) -> str: ...
    def failing10bis(self) -> None: ...
    def failing11(self) -> bool: ...
    def failing12(self) -> str: ...
    def failing13(self) -> bool: ...


class ErrorsWorkflowImpl(ErrorsWorkflow):
    def __init__(self) -> None:
        self.p1 = ""
        self.util = self.new_service(UtilService)

    @property
    def _self(self) -> ErrorsWorkflow:
        return self.get_workflow_by_id(ErrorsWorkflow, self.workflow_id)

    @property
    def _child(self) -> ErrorsWorkflow:
        return self.new_workflow(ErrorsWorkflow, tags={"foo", "bar"})

    def waiting(self) -> bool:
        self.timer(timedelta(seconds=60)).result()
        return True

    def failing1(self) -> str:
        value = self.util.concat("", "1")
        raise Exception(f"sorry {value}")

    def failing2(self) -> str:
        try:
            self.util.failing_with_exception()
        except TaskFailedError:
            return self.util.reverse("ok")
        return "not caught"

    def failing2a(self) -> int:
        self.dispatch(self.util.failing_with_exception)
        return self.util.await_ms(100)

    def failing3(self) -> str:
        return self.util.failing_with_exception()

    def failing3b(self) -> str:
        return self.util.failing_with_custom_exception()

    def failing3bb(self) -> str:
        return self.util.failing_with_nested_custom_exception()

    def failing4(self) -> int:
        self.dispatch(self._self.failing3)
        return self.util.await_ms(100)

    def failing5(self) -> int:
        self.dispatch(self._self.failing1)
        return self.util.await_ms(100)

    def failing7(self) -> str:
        return self._child.failing3()

    def failing7bis(self) -> int:
        self.dispatch(self._self.failing7)
        return self.util.await_ms(100)

    def failing7ter(self) -> str:
        try:
            self._child.failing3()
        except WorkflowFailedError as exc:
            name = exc.last_error.cause.name if exc.last_error and exc.last_error.cause else ""
            self.util.await_ms(100)
            return name
        return "not caught"

    def failing8(self) -> str:
        return self.util.success_at_retry()

    def failing9(self) -> bool:
        deferred = self.dispatch(self.util.success_at_retry)
        caught = False
        try:
            deferred.result()
        except TaskFailedError:
            caught = True
        self.util.retry_failed_tasks(self.workflow_name, self.workflow_id)
        self.util.await_ms(200)
        return caught and deferred.result() == "ok"

    def failing10(self) -> str:
        self.p1 = "o"
        deferred = self.dispatch(self.util.failing_with_exception)
        self.dispatch(self._self.failing10bis)
        try:
            deferred.result()
        except TaskFailedError:
            pass
        return self.p1

    def failing10bis(self) -> None:
        self.p1 += "k"

    def failing11(self) -> bool:
        return self.get_workflow_by_id(ErrorsWorkflow, "unknown").waiting()

    def failing12(self) -> str:
        try:
            self.get_workflow_by_id(ErrorsWorkflow, "unknown").waiting()
        except UnknownWorkflowError:
            return self.util.reverse("thguac")
        return "not caught"

    def failing13(self) -> bool:
        return self.new_workflow(ErrorsWorkflow, tags=self.tags).waiting()


WORKFLOWS = [
    {
        "name": f"{__name__}.ErrorsWorkflow",
        "class": f"{__name__}.ErrorsWorkflowImpl",
        "concurrency": 4,
    }
]
