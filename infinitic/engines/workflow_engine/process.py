"""The pure engine: (state, message) -> (state, outbox). No I/O here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...common import messages as m
from ...common import workflow_messages as w
from ...common.ids import new_id
from .context import StepContext
from .handlers import client_commands, results, start
from .handlers.start import pending_key, tombstone_key
from .handlers.workflow_task import workflow_task_completed
from .scheduler import schedule
from .state_ops import TERMINAL, gc_properties, refresh_status

# messages applied to an existing, running state; buffered while a workflow task runs
_ON_STATE: dict[type, Callable[[w.WorkflowState, Any, StepContext], None]] = {
    m.TaskCompleted: results.task_completed,
    m.TaskFailed: results.task_failed,
    w.TimerCompleted: results.timer_completed,
    w.CommandTimedOut: results.command_timed_out,
    w.MethodOutcome: results.child_outcome,
    w.SendSignal: results.signal,
    w.CompleteTimers: client_commands.complete_timers,
    w.RetryTasks: client_commands.retry_tasks,
    w.CompleteMethodTimers: client_commands.complete_timers,
    w.RetryTasksWhere: client_commands.retry_tasks,
}
# messages that act at once, even while a workflow task runs
_IMMEDIATE: dict[type, Callable[[w.WorkflowState, Any, StepContext], None]] = {
    w.CancelWorkflow: client_commands.cancel,
    w.RetryWorkflowTask: client_commands.retry_workflow_task,
}

# messages that only record outcomes: the state's readiness index follows them (waiting.py)
OUTCOMES = frozenset(
    (
        m.TaskCompleted,
        m.TaskFailed,
        w.TimerCompleted,
        w.CommandTimedOut,
        w.MethodOutcome,
        w.SendSignal,
    )
)

HANDLED = (
    tuple(_ON_STATE)
    + tuple(_IMMEDIATE)
    + (w.DispatchWorkflow, w.DispatchMethod, w.WaitWorkflow, w.WorkflowTaskCompleted)
)


def process(state: w.WorkflowState | None, msg: Any, out: StepContext) -> w.WorkflowState | None:
    """Applies `msg` to `state`; effects go to `out`. Returns the new state (None: none)."""
    kind = type(msg)
    if state is not None and kind not in OUTCOMES and kind is not w.WorkflowTaskCompleted:
        # (a workflow task's result tells the index what it adds: handlers/workflow_task.py)
        out.state_changed()  # it may change the state in other ways than outcomes
    # (a failed instance has not ended: it may be retried or canceled)
    was_running = state is not None and state.status not in TERMINAL
    if kind is w.DispatchWorkflow:
        state = start.dispatch_workflow(state, msg, out)
    elif kind is w.WaitWorkflow:
        return start.wait_workflow(state, msg, out)
    elif state is None:
        if kind is w.DispatchMethod:
            start.dispatch_method(state, msg, out)
        return None  # nothing to apply a result or a command to (an expired or unknown id)
    elif kind is w.DispatchMethod:
        if state.running_task_id is not None and state.status == "running":
            state.buffer.append(msg)
            return state
        start.dispatch_method(state, msg, out)
    elif kind is w.WorkflowTaskCompleted:
        workflow_task_completed(state, msg, out)
        _drain_buffer(state, out)
    elif kind in _IMMEDIATE:
        _IMMEDIATE[kind](state, msg, out)
    elif kind in _ON_STATE:
        if state.status in TERMINAL:
            return state  # a failed instance takes them all: its pending work goes on
        if state.running_task_id is not None:
            state.buffer.append(msg)
            return state
        _ON_STATE[kind](state, msg, out)
    else:
        raise TypeError(f"the workflow engine does not handle {kind.__name__}")
    _finish(state, out, was_running or kind is w.DispatchWorkflow, kind not in OUTCOMES)
    return state


def _drain_buffer(state: w.WorkflowState, out: StepContext) -> None:
    buffered, state.buffer = state.buffer, []
    for msg in buffered:
        if state.status in TERMINAL:
            break
        if isinstance(msg, w.DispatchMethod):
            start.dispatch_method(state, msg, out)
        else:
            _ON_STATE[type(msg)](state, msg, out)


def _finish(state: w.WorkflowState, out: StepContext, was_running: bool, gc: bool = True) -> None:
    # `gc`: an outcome changes no step and no run's status, so it leaves no property snapshot
    # unused (and the collection walks every step: O(n) for a long run)
    refresh_status(state)
    schedule(state, out)
    state.updated_at = out.now
    if was_running and state.status in TERMINAL:
        gc_properties(state)
        out.set_ops.append(("remove", pending_key(state.workflow_name), state.workflow_id))
        if state.dispatch_id:  # a late copy of its start must not start it again
            key = tombstone_key(state.workflow_name, state.workflow_id, state.dispatch_id)
            out.set_ops.append(("tombstone", key, ""))
        for tag in sorted(state.tags):
            out.to_tag_engine(
                state.workflow_name,
                tag,
                w.TagCommand(
                    new_id(),
                    state.workflow_name,
                    tag,
                    "remove",
                    workflow_id=state.workflow_id,
                    emitted_at=out.now,
                ),
            )
    elif state.status == "running":
        if gc:
            gc_properties(state)
        if not was_running:  # re-opened by a retry
            out.set_ops.append(("add", pending_key(state.workflow_name), state.workflow_id))
