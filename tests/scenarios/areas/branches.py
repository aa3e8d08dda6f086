"""Catalog §B: parallel methods on one instance (Infinitic's BranchesWorkflow)."""

from __future__ import annotations

from datetime import timedelta

from infinitic import Workflow
from tests.scenarios.shared import UtilService


class BranchesWorkflow(Workflow):
    def seq3(self) -> str: ...
    def seq3bis(self) -> str: ...
    def seq4(self) -> str: ...
    def seq4bis(self) -> str: ...
    def deferred_statuses(self) -> str: ...
    def async1(self) -> str: ...
    def async1bis(self) -> str: ...


class BranchesWorkflowImpl(BranchesWorkflow):
    def __init__(self) -> None:
        self.util = self.new_service(UtilService)

    @property
    def _self(self) -> BranchesWorkflow:
        return self.get_workflow_by_id(BranchesWorkflow, self.workflow_id)

    def seq3(self) -> str:
        branch = self.dispatch(self._self.seq3bis)
        value = self.util.concat("", "2")
        value = self.util.concat(value, "3")
        return value + branch.result()

    def seq3bis(self) -> str:
        return self.util.reverse("ab")

    def seq4(self) -> str:
        branch = self.dispatch(self._self.seq4bis)
        value = self.util.concat("", "2")
        value = self.util.concat(value, "3")
        return value + branch.result()

    def seq4bis(self) -> str:
        value = self.util.reverse("ab")
        return self.util.concat(value, "c")

    def deferred_statuses(self) -> str:
        branch = self.dispatch(self._self.seq3bis)
        before = f"{branch.status() == 'ongoing'}{branch.status() == 'completed'}".lower()
        branch.result()
        after = f"{branch.status() == 'ongoing'}{branch.status() == 'completed'}".lower()
        return before + after

    def async1(self) -> str:
        self.dispatch(self._self.async1bis)
        return "ok"

    def async1bis(self) -> str:
        self.timer(timedelta(milliseconds=200)).result()
        return "ok"


WORKFLOWS = [
    {
        "name": f"{__name__}.BranchesWorkflow",
        "class": f"{__name__}.BranchesWorkflowImpl",
        "concurrency": 4,
    }
]
