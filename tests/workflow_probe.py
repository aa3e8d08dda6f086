"""Lets tests wait, without sleeping, until a workflow has reached a given point."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson

from infinitic import InfiniticWorker
from infinitic.common import messages
from infinitic.common.workflow_messages import WorkflowState

Predicate = Callable[[WorkflowState], bool]


def is_waiting(state: WorkflowState) -> bool:
    """No workflow task runs, and a method run waits at a step."""
    return state.running_task_id is None and any(
        run.status == "running" and run.steps and run.steps[-1].terminated_at < 0
        for run in state.method_runs
    )


def waits_on_timer(state: WorkflowState) -> bool:
    return is_waiting(state) and any(
        cmd.kind == "timer" and cmd.status == "ongoing"
        for run in state.method_runs
        for cmd in run.commands
    )


def waits_after_signals(count: int) -> Predicate:
    """Waiting, after `count` signals were received."""

    def predicate(state: WorkflowState) -> bool:
        received = sum(
            len(orjson.loads(cmd.result)) if cmd.result else 0
            for run in state.method_runs
            for cmd in run.commands
            if cmd.kind == "receive"
        )
        return received >= count and is_waiting(state)

    predicate.__name__ = f"waits_after_{count}_signals"
    return predicate


class StateProbe:
    """Keeps the last saved state of each instance, from the engines' listeners."""

    def __init__(self, worker: InfiniticWorker) -> None:
        self._cond = threading.Condition()
        self._states: dict[str, WorkflowState] = {}
        worker.add_workflow_listener(self._on_state)

    def _on_state(self, state: WorkflowState) -> None:
        state = messages.decode(messages.encode(state))  # a copy: the engine goes on mutating it
        assert isinstance(state, WorkflowState)
        with self._cond:
            self._states[state.workflow_id] = state
            self._cond.notify_all()

    def last(self, workflow_id: str) -> WorkflowState:
        with self._cond:
            return self._states[workflow_id]

    def wait_until(self, workflow_id: str, predicate: Predicate, timeout: float = 30) -> None:
        def reached() -> bool:
            state = self._states.get(workflow_id)
            return state is not None and predicate(state)

        with self._cond:
            ok = self._cond.wait_for(reached, timeout)
        if not ok:
            raise AssertionError(
                f"workflow {workflow_id} did not reach {predicate.__name__} in {timeout}s"
            )


def probe_for(worker: InfiniticWorker) -> StateProbe:
    probe: StateProbe | None = getattr(worker, "_test_probe", None)
    if probe is None:
        probe = StateProbe(worker)
        worker._test_probe = probe  # type: ignore[attr-defined]
    return probe


def wait_until_waiting(worker: Any, stub: Any, predicate: Predicate = is_waiting) -> None:
    probe_for(worker).wait_until(stub.id, predicate)
