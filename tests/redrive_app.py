"""A task that holds until the test releases it, and counts how often it started (what a
restart beside a live worker must not run twice); a strict workflow with a relative timer."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from infinitic import Workflow, name, task

STARTED: Counter[str] = Counter()
RAN_ON: set[int] = set()  # the clients (one per worker) whose executors ran a probe
RELEASED: dict[str, threading.Event] = {}
_LOCK = threading.Lock()


def release(key: str) -> None:
    RELEASED.setdefault(key, threading.Event()).set()


@name("Holder")
class Holder:
    def hold(self, key: str) -> str: ...
    def probe(self) -> None: ...


class HolderImpl(Holder):
    def hold(self, key: str) -> str:
        with _LOCK:
            STARTED[key] += 1
            gate = RELEASED.setdefault(key, threading.Event())
        gate.wait(60)
        return key

    def probe(self) -> None:
        with _LOCK:
            RAN_ON.add(id(task.client))


@name("HoldWorkflow")
class HoldWorkflow(Workflow):
    def run(self, key: str) -> str: ...


class HoldWorkflowImpl(HoldWorkflow):
    def run(self, key: str) -> str:
        return self.new_service(Holder).hold(key)


@name("StrictTimerWorkflow")
class StrictTimerWorkflow(Workflow):
    def run(self, key: str) -> str: ...


class StrictTimerWorkflowImpl(StrictTimerWorkflow):
    """Run with checkMode strict: a relative timer, then a task (a replay after the timer)."""

    def run(self, key: str) -> str:
        self.timer(timedelta(milliseconds=50)).result()
        return self.new_service(Holder).hold(key)
