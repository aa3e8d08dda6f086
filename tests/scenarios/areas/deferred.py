"""Catalog §A: sync / async / deferred combinators (Infinitic's DeferredWorkflow)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from infinitic import DeferredStatus, Workflow, all_of, any_of
from tests.scenarios.shared import UtilService


class DeferredWorkflow(Workflow):
    def seq1(self) -> str: ...
    def await_ms(self, ms: int) -> int: ...
    def seq2(self) -> str: ...
    def seq3(self) -> int: ...
    def seq4(self) -> int: ...
    def or1(self) -> str: ...
    def or2(self) -> Any: ...
    def or3(self) -> str: ...
    def or4(self) -> str: ...
    def and1(self) -> list[str]: ...
    def and2(self) -> list[str]: ...
    def and3(self) -> list[str]: ...


class DeferredWorkflowImpl(DeferredWorkflow):
    def __init__(self) -> None:
        self.util = self.new_service(UtilService)

    def seq1(self) -> str:
        value = ""
        for x in ("1", "2", "3"):
            value = self.util.concat(value, x)
        return value

    def await_ms(self, ms: int) -> int:
        return self.util.await_ms(ms)

    def seq2(self) -> str:
        d = self.dispatch(self.util.reverse, "ab")
        value = self.util.concat("", "2")
        value = self.util.concat(value, "3")
        return value + d.result()

    def seq3(self) -> int:
        slow = self.dispatch(self.util.await_ms, 500)
        fast = self.dispatch(self.util.await_ms, 100)
        return slow.result() + fast.result()

    def seq4(self) -> int:
        total = self.seq3()
        self.util.concat("", "step")
        return total

    def _three(self) -> list[Any]:
        return [self.dispatch(self.util.reverse, s) for s in ("ab", "cd", "ef")]

    def or1(self) -> str:
        d1, d2, d3 = self._three()
        return any_of(d1, d2, d3).result()  # type: ignore[no-any-return]

    def or2(self) -> Any:
        d1, d2, d3 = self._three()
        return any_of(all_of(d1, d2), d3).result()

    def or3(self) -> str:
        return any_of(*self._three()).result()  # type: ignore[no-any-return]

    def or4(self) -> str:
        s3 = self.util.concat("1", "2")
        d = any_of(self.dispatch(self.util.reverse, "ab"), self.timer(timedelta(seconds=2)))
        if d.status() != DeferredStatus.COMPLETED:
            s3 = self.util.reverse("ab")
        return str(d.result()) + s3

    def and1(self) -> list[str]:
        d1, d2, d3 = self._three()
        return all_of(d1, d2, d3).result()

    def and2(self) -> list[str]:
        return all_of(*self._three()).result()

    def and3(self) -> list[str]:
        return all_of(*(self.dispatch(self.util.reverse, "ab") for _ in range(20))).result()


WORKFLOWS = [
    {
        "name": f"{__name__}.DeferredWorkflow",
        "class": f"{__name__}.DeferredWorkflowImpl",
        "concurrency": 4,
    }
]
