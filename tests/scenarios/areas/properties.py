"""Catalog §C: properties shared by the method runs of an instance (PropertiesWorkflow)."""

from __future__ import annotations

from typing import Any

from infinitic import Deferred, Workflow
from tests.scenarios.shared import UtilService


class PropertiesWorkflow(Workflow):
    def prop1(self) -> str: ...
    def prop2(self) -> str: ...
    def prop3(self) -> str: ...
    def prop4(self) -> str: ...
    def prop5(self) -> str: ...
    def prop6(self) -> str: ...
    def prop7(self) -> str: ...
    def prop8(self) -> str: ...
    def prop9(self) -> str: ...
    def prop10(self) -> str: ...
    def prop_p1_plus(self, value: str, delay: int = 0) -> None: ...
    def prop_p1_plus_reversed(self, value: str) -> None: ...
    def prop_await_arg(self, deferred: Any) -> str: ...
    def prop_await_property(self) -> str: ...


class PropertiesWorkflowImpl(PropertiesWorkflow):
    def __init__(self) -> None:
        self.p1 = ""
        self.deferred: Deferred[str] | None = None  # unset: fine (C notes)
        self.util = self.new_service(UtilService)

    @property
    def _self(self) -> PropertiesWorkflow:
        return self.get_workflow_by_id(PropertiesWorkflow, self.workflow_id)

    def prop_p1_plus(self, value: str, delay: int = 0) -> None:
        if delay:
            self.util.await_ms(delay)
        self.p1 += value

    def prop_p1_plus_reversed(self, value: str) -> None:
        self.p1 += self.util.reverse(value)

    def prop1(self) -> str:
        self.p1 = "a"
        self._self.prop_p1_plus("b")
        self.p1 += "c"
        return self.p1

    def prop2(self) -> str:
        self.p1 = "a"
        branch = self.dispatch(self._self.prop_p1_plus, "b")
        self.p1 += "c"
        branch.result()
        self.p1 += "d"
        return self.p1

    def prop3(self) -> str:
        self.p1 = "a"
        branch = self.dispatch(self._self.prop_p1_plus, "b", 10)
        self.p1 += "c"
        branch.result()
        self.p1 += "d"
        return self.p1

    def prop4(self) -> str:
        self.p1 = "a"
        self.dispatch(self._self.prop_p1_plus, "b", 200)
        self.p1 += "c"
        self.util.await_ms(10)
        self.p1 += "d"
        return self.p1

    def prop5(self) -> str:
        self.p1 = "a"
        d1 = self.dispatch(self._self.prop_p1_plus, "b", 10)
        d2 = self.dispatch(self._self.prop_p1_plus, "c")
        self.p1 += "d"
        d1.result()
        d2.result()
        return self.p1

    def prop6(self) -> str:
        d = self.dispatch(self.util.reverse, "ab")
        return self._self.prop_await_arg(d)

    def prop7(self) -> str:
        d = self.dispatch(self.util.reverse, "ab")
        d.result()
        return self._self.prop_await_arg(d)

    def prop_await_arg(self, deferred: Any) -> str:
        return str(deferred)

    def prop8(self) -> str:
        self.deferred = self.dispatch(self.util.reverse, "ab")
        return self._self.prop_await_property()

    def prop9(self) -> str:
        self.deferred = self.dispatch(self.util.reverse, "ab")
        self.deferred.result()
        return self._self.prop_await_property()

    def prop_await_property(self) -> str:
        return self.deferred.result() if self.deferred is not None else "none"

    def prop10(self) -> str:
        self.p1 = self.util.reverse("a")
        branch = self.dispatch(self._self.prop_p1_plus_reversed, "b")
        self.p1 += "c"
        branch.result()
        self.p1 += "d"
        return self.p1


WORKFLOWS = [
    {
        "name": f"{__name__}.PropertiesWorkflow",
        "class": f"{__name__}.PropertiesWorkflowImpl",
        "concurrency": 4,
    }
]
