"""Catalog §F: child workflows (ChildrenWorkflow) and §J: context (ContextWorkflow)."""

from __future__ import annotations

from datetime import timedelta

from infinitic import Workflow
from tests.scenarios.shared import UtilService, UtilWorkflow


class ParentWorkflow(Workflow):
    """A base class of a workflow interface: its methods are methods of the interface."""

    def parent(self) -> str: ...


class ChildrenWorkflow(ParentWorkflow):
    def wparent(self) -> str: ...
    def seq1(self) -> str: ...
    def seq2(self) -> str: ...
    def factorial(self, n: int) -> int: ...
    def cancel(self) -> bool: ...
    def waiting(self) -> bool: ...


class ChildrenWorkflowImpl(ChildrenWorkflow):
    def __init__(self) -> None:
        self.util = self.new_service(UtilService)

    def parent(self) -> str:
        return self.util.parent()

    def wparent(self) -> str:
        return self.new_workflow(ChildrenWorkflow).parent()

    def seq1(self) -> str:
        value = self.new_workflow(UtilWorkflow).concat("a")
        return self.util.concat(value, "b")

    def seq2(self) -> str:
        value = self.util.reverse("ab")
        child = self.dispatch(self.new_workflow(UtilWorkflow).concat, value)
        return self.util.concat(child.result(), value)

    def factorial(self, n: int) -> int:
        return self.new_workflow(UtilWorkflow).factorial(n)

    def cancel(self) -> bool:
        return self.new_workflow(ChildrenWorkflow, tags=self.tags).waiting()

    def waiting(self) -> bool:
        self.timer(timedelta(seconds=60)).result()
        return True


class ContextWorkflow(Workflow):
    def context1(self) -> str: ...
    def context2(self) -> list[str]: ...
    def context3(self) -> dict[str, bytes]: ...
    def context4(self) -> str | None: ...
    def context5(self) -> str | None: ...
    def context6(self) -> list[str]: ...
    def context7(self) -> dict[str, bytes]: ...
    def context8(self) -> float | None: ...
    def context9(self) -> float | None: ...


class ContextWorkflowImpl(ContextWorkflow):
    def __init__(self) -> None:
        # read at construction: Infinitic's property initialisers
        self.id_at_init = self.workflow_id
        self.tags_at_init = sorted(self.tags)
        self.meta_at_init = dict(self.meta)
        self.util = self.new_service(UtilService, tags={"foo", "bar"}, meta={"foo": b"bar"})

    def context1(self) -> str:
        return self.id_at_init

    def context2(self) -> list[str]:
        return self.tags_at_init

    def context3(self) -> dict[str, bytes]:
        return self.meta_at_init

    def context4(self) -> str | None:
        return self.util.workflow_id()

    def context5(self) -> str | None:
        return self.util.workflow_name()

    def context6(self) -> list[str]:
        return sorted(self.util.tags())

    def context7(self) -> dict[str, bytes]:
        return self.util.meta()

    def context8(self) -> float | None:
        return self.util.get_retry()

    def context9(self) -> float | None:
        from tests.scenarios.shared import TestService

        return self.new_service(TestService).get_timeout()


WORKFLOWS = [
    {
        "name": f"{__name__}.ChildrenWorkflow",
        "class": f"{__name__}.ChildrenWorkflowImpl",
        "concurrency": 4,
    },
    {
        "name": f"{__name__}.ContextWorkflow",
        "class": f"{__name__}.ContextWorkflowImpl",
        "concurrency": 2,
    },
]
