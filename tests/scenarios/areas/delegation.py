"""The delegation scenario's workflow and service (catalog §L, Infinitic's `DelegationWorkflow`
and `UtilService.delegate`), registered under the custom name `Delegation`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from infinitic import Workflow, delegated, name, task
from tests.scenarios.shared import UtilService


@dataclass
class Delegated:
    """The ids a delegated task recorded, for the client that completes it."""

    task_id: str = ""
    service_name: str = ""
    recorded: threading.Event = field(default_factory=threading.Event)


DELEGATED = Delegated()


@name("Delegation")
class DelegationService:
    def delegate(self, n: int) -> str: ...


class DelegationServiceImpl(DelegationService):
    @delegated
    def delegate(self, n: int) -> str:
        DELEGATED.task_id = task.task_id
        DELEGATED.service_name = task.service_name
        DELEGATED.recorded.set()
        return "ignored: the result comes from complete_delegated_task"


class DelegationWorkflow(Workflow):
    def delegate_concat(self) -> str: ...


class DelegationWorkflowImpl(DelegationWorkflow):
    def delegate_concat(self) -> str:
        result = self.new_service(DelegationService).delegate(100)
        return self.new_service(UtilService).concat(result, "!")


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


SERVICES = [{"name": "Delegation", "class": _name(DelegationServiceImpl)}]
WORKFLOWS = [{"name": _name(DelegationWorkflow), "class": _name(DelegationWorkflowImpl)}]
