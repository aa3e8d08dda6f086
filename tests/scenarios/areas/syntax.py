"""Catalog §I tags (TagWorkflow), §K inline (InlineWorkflow), §M syntax (SyntaxWorkflow,
annotated names, polymorphism)."""

from __future__ import annotations

from datetime import timedelta

from infinitic import Workflow, name
from tests.scenarios.areas.children import ParentWorkflow
from tests.scenarios.shared import Parent, UtilService


class TagWorkflow(Workflow):
    def context(self) -> set[str]: ...
    def await_hour(self) -> None: ...


class TagWorkflowImpl(TagWorkflow):
    def context(self) -> set[str]:
        return set(self.tags)

    def await_hour(self) -> None:
        self.timer(timedelta(hours=1)).result()


class InlineWorkflow(Workflow):
    def inline1(self, i: int) -> str: ...
    def inline2(self, i: int) -> str: ...
    def inline3(self, i: int) -> str: ...


class InlineWorkflowImpl(InlineWorkflow):
    def __init__(self) -> None:
        self.util = self.new_service(UtilService)

    def inline1(self, i: int) -> str:
        result = self.inline(lambda: 2 * i)
        return self.util.concat(f"2 * {i} = ", str(result))

    def inline2(self, i: int) -> str:
        self.inline(lambda: self.dispatch(self.util.reverse, "ab"))
        return "unreachable"

    def inline3(self, i: int) -> str:
        self.inline(lambda: self.util.concat("1", "2"))
        return "unreachable"


class SyntaxWorkflow(ParentWorkflow):
    def empty(self) -> str: ...
    def cparent(self) -> str: ...
    def polymorphism(self) -> Parent: ...


class SyntaxWorkflowImpl(SyntaxWorkflow):
    def __init__(self) -> None:
        self.util = self.new_service(UtilService)

    def empty(self) -> str:
        return "void"

    def parent(self) -> str:
        return self.util.parent()

    def cparent(self) -> str:
        return self.new_workflow(SyntaxWorkflow).parent()

    def polymorphism(self) -> Parent:
        return self.util.polymorphism()


@name("annotatedService")
class AnnotatedService:
    @name("bar")
    def foo(self, value: str, with_: str) -> str: ...


class AnnotatedServiceImpl(AnnotatedService):
    def foo(self, value: str, with_: str) -> str:
        return value + with_


@name("annotatedWorkflow")
class AnnotatedWorkflow(Workflow):
    @name("bar")
    def foo(self, value: str) -> str: ...


class AnnotatedWorkflowImpl(AnnotatedWorkflow):
    def foo(self, value: str) -> str:
        service = self.new_service(AnnotatedService)
        for x in ("a", "b", "c"):
            value = service.foo(value, x)
        return value


SERVICES = [{"name": "annotatedService", "class": f"{__name__}.AnnotatedServiceImpl"}]
WORKFLOWS = [
    {"name": f"{__name__}.TagWorkflow", "class": f"{__name__}.TagWorkflowImpl"},
    {"name": f"{__name__}.InlineWorkflow", "class": f"{__name__}.InlineWorkflowImpl"},
    {"name": f"{__name__}.SyntaxWorkflow", "class": f"{__name__}.SyntaxWorkflowImpl"},
    {"name": "annotatedWorkflow", "class": f"{__name__}.AnnotatedWorkflowImpl"},
]
