"""Cancel, RetryWorkflowTask, CompleteTimers, RetryTasks: steering from clients."""

from __future__ import annotations

import logging

import orjson

from ....common import workflow_messages as w
from ....common.ids import new_id
from ..outbox import Outbox
from ..state_ops import TERMINAL, complete_command
from ..waiting import as_tree
from .dispatching import send_task

log = logging.getLogger("infinitic.engines.workflow")


def cancel(state: w.WorkflowState, msg: w.CancelWorkflow, out: Outbox) -> None:
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


def retry_workflow_task(state: w.WorkflowState, msg: w.RetryWorkflowTask, out: Outbox) -> None:
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


def complete_timers(state: w.WorkflowState, msg: w.CompleteTimers, out: Outbox) -> None:
    for run in state.method_runs:
        if run.status != "running":
            continue
        for cmd in run.commands:
            if cmd.kind == "timer":
                complete_command(state, cmd, "completed", now=out.now)


def retry_tasks(state: w.WorkflowState, msg: w.RetryTasks, out: Outbox) -> None:
    """Re-runs failed or timed-out tasks, when no replay has moved past their failure.

    A task whose failure the workflow caught and went on from cannot be retried (replays would
    see another past); it is skipped with a log line.
    """
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
            if index in used:
                log.warning(
                    "task %s cannot be retried: the workflow went on after it failed",
                    cmd.command_id,
                )
                continue
            cmd.status = "ongoing"
            cmd.error = None
            cmd.result = b""
            cmd.completed_at = -1
            cmd.retry_sequence += 1
            w.set_command_times(cmd, out.now, 0.0)
            send_task(state, run, cmd, out)
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
