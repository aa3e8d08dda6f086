"""Cancel, RetryWorkflowTask, CompleteTimers, RetryTasks: steering from clients."""

from __future__ import annotations

import logging

import orjson

from ....common import messages as m
from ....common import workflow_messages as w
from ....common.ids import new_id
from ..context import StepContext
from ..state_ops import TERMINAL, complete_command, next_event
from ..waiting import as_tree
from .dispatching import send_task

log = logging.getLogger("infinitic.engines.workflow")


def cancel(state: w.WorkflowState, msg: w.CancelWorkflow, out: StepContext) -> None:
    """Cancels a running or failed instance: its unfinished (or failed) runs and children."""
    if state.status in TERMINAL:
        return
    for run in state.method_runs:
        if run.status in TERMINAL:
            continue
        run.status = "canceled"
        out.method_outcome(state, run, "canceled")
        for cmd in run.commands:
            if cmd.kind == "workflow" and cmd.status == "ongoing":
                out.to_engine(
                    cmd.name,
                    cmd.command_id,
                    w.CancelWorkflow(
                        new_id(),
                        cmd.command_id,
                        cmd.name,
                        f"parent {state.workflow_id} canceled",
                        out.now,
                    ),
                )
    state.running_task_id = None
    state.running_method_run_id = None
    state.buffer = []


def retry_workflow_task(state: w.WorkflowState, msg: w.RetryWorkflowTask, out: StepContext) -> None:
    """Re-opens method runs whose workflow task failed (code error or non-determinism)."""
    reopened = False
    for run in state.method_runs:
        if run.status == "failed":
            run.status = "running"
            run.error = None
            reopened = True
    if reopened:
        state.status = "running"
        state.running_task_id = None
        state.running_method_run_id = None


def complete_timers(
    state: w.WorkflowState, msg: w.CompleteTimers | w.CompleteMethodTimers, out: StepContext
) -> None:
    """Completes the running timers of the method run `msg` names (of every run: none named);
    an unknown method run completes nothing."""
    only = getattr(msg, "method_run_id", None)
    for run in state.method_runs:
        if run.status != "running" or (only is not None and run.method_run_id != only):
            continue
        for cmd in run.commands:
            if cmd.kind == "timer":
                complete_command(out, state, cmd, "completed")


def retry_tasks(
    state: w.WorkflowState, msg: w.RetryTasks | w.RetryTasksWhere, out: StepContext
) -> None:
    """Re-runs failed or timed-out tasks (those matching the filters of `msg`).

    A task whose failure the workflow caught and went on from is retried too: its earlier
    outcome is kept with it (`PREVIOUS_OUTCOMES_META`), so replays of the steps that saw the
    failure still see it, and later awaits see what the retry gives.
    """
    status = getattr(msg, "task_status", None)
    service = getattr(msg, "service_name", None)
    for run in state.method_runs:
        if run.status not in ("running", "failed"):
            continue
        last = run.steps[-1] if run.steps else None
        used: set[int] = set()
        for step in run.steps[:-1] if last is not None else []:
            used |= _leaves(step)
        for index, cmd in enumerate(run.commands):
            if cmd.kind != "task" or cmd.status not in ("failed", "timed_out"):
                continue
            if msg.task_id is not None and cmd.command_id != msg.task_id:
                continue
            if (status is not None and cmd.status != status) or (
                service is not None and cmd.name != service
            ):
                continue
            if index in used:
                _remember_outcome(cmd)
            cmd.status = "ongoing"
            cmd.error = None
            cmd.result = b""
            cmd.completed_at = -1
            cmd.retry_sequence += 1
            w.set_command_times(cmd, out.now, 0.0)
            send_task(state, run, cmd, out)
            reopen(state, run, index)


def _remember_outcome(cmd: w.Command) -> None:
    raw = cmd.meta.get(w.PREVIOUS_OUTCOMES_META)
    past = orjson.loads(raw) if raw else []
    error = m.encode(cmd.error).hex() if cmd.error is not None else ""
    past.append([cmd.status, cmd.completed_at, error])
    cmd.meta[w.PREVIOUS_OUTCOMES_META] = orjson.dumps(past)


def late_outcome(
    out: StepContext,
    state: w.WorkflowState,
    cmd: w.Command,
    status: w.CommandStatus,
    result: bytes,
) -> bool:
    """A command that timed out ends after all (a child completing after its deadline): when
    the run failed on that timeout, it takes the outcome and goes on (Infinitic's behaviour);
    when the workflow went on past the timeout, replays must keep seeing it: nothing changes."""
    for run in state.method_runs:
        if run.status not in ("running", "failed") or not run.steps:
            continue
        index = next((i for i, c in enumerate(run.commands) if c is cmd), -1)
        if index < 0:
            continue
        last = run.steps[-1]
        if any(index in _leaves(step) for step in run.steps[:-1]) or index not in _leaves(last):
            return False
        cmd.status = status
        cmd.result = result
        cmd.completed_at = next_event(state)
        reopen(state, run, index)
        out.state_changed()
        return True
    return False


def reopen(state: w.WorkflowState, run: w.MethodRun, index: int) -> None:
    """The step `run` failed on (its last, holding command `index`) is decided again."""
    last = run.steps[-1] if run.steps else None
    if last is not None and index in _leaves(last) and last.terminated_at >= 0:
        last.terminated_at = -1
    if run.status == "failed":
        run.status = "running"
        run.error = None
        state.status = "running"


def _leaves(step: w.Step) -> set[int]:
    out: set[int] = set()

    def walk(node: object) -> None:
        if isinstance(node, tuple):
            if node[0] in ("c", "r"):
                out.add(int(node[1]))
            else:
                for child in node[1]:
                    walk(child)

    walk(as_tree(orjson.loads(step.tree)))
    return out
