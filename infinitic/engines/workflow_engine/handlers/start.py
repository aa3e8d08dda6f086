"""DispatchWorkflow, DispatchMethod and WaitWorkflow: method runs and the clients waiting on them."""

from __future__ import annotations

import typing

from ....common import workflow_messages as w
from ....common.ids import new_id
from ..context import StepContext
from ..state_ops import RUN_ENDED, TERMINAL, find_run


def dispatch_workflow(
    state: w.WorkflowState | None, msg: w.DispatchWorkflow, out: StepContext
) -> w.WorkflowState:
    if state is not None and msg.message_id == state.dispatch_id:
        # a copy of the start that began it: its client and parent were registered with the run
        # and are told how it ends. An answer now could reach the client after it retried the
        # instance and waits again, with an outcome from before the retry
        return state
    if state is not None and state.status not in TERMINAL:
        # a start reusing the custom id of a running (or failed) instance
        run = find_run(state, state.workflow_id)
        if run is not None:
            _wait(state, run, msg.reply_to, msg.parent_workflow_id, out, msg)
        return state
    # new, or a new start with the custom id of an ended instance: that one is replaced
    state = w.WorkflowState(
        workflow_id=msg.workflow_id,
        workflow_name=msg.workflow_name,
        tags=msg.tags,
        meta=dict(msg.meta),
        created_at=out.now,
        updated_at=out.now,
        dispatch_id=msg.message_id,
    )
    state.method_runs.append(
        w.MethodRun(
            method_run_id=msg.workflow_id,
            method_name=msg.method_name,
            args=msg.args,
            parent_workflow_id=msg.parent_workflow_id,
            parent_workflow_name=msg.parent_workflow_name,
            parent_method_run_id=msg.parent_method_run_id,
            waiting_clients=[msg.reply_to] if msg.reply_to else [],
            created_at=out.now,
        )
    )
    for tag in sorted(msg.tags):
        out.to_tag_engine(
            msg.workflow_name,
            tag,
            w.TagCommand(
                new_id(),
                msg.workflow_name,
                tag,
                "add",
                workflow_id=msg.workflow_id,
                emitted_at=out.now,
            ),
        )
    out.set_ops.append(("add", pending_key(msg.workflow_name), msg.workflow_id))
    return state


def dispatch_method(
    state: w.WorkflowState | None, msg: w.DispatchMethod, out: StepContext
) -> w.WorkflowState | None:
    if state is None or state.status != "running":
        probe = w.MethodRun(
            msg.method_run_id,
            msg.method_name,
            msg.args,
            parent_workflow_id=msg.parent_workflow_id,
            parent_workflow_name=msg.parent_workflow_name,
            parent_method_run_id=msg.parent_method_run_id,
            waiting_clients=[msg.reply_to] if msg.reply_to else [],
        )
        ghost = state or w.WorkflowState(msg.workflow_id, msg.workflow_name)
        out.method_outcome(ghost, probe, "unknown")
        return state
    run = find_run(state, msg.method_run_id)
    if run is not None:
        _wait(state, run, msg.reply_to, None, out, None)
        return state
    state.method_runs.append(
        w.MethodRun(
            method_run_id=msg.method_run_id,
            method_name=msg.method_name,
            args=msg.args,
            parent_workflow_id=msg.parent_workflow_id,
            parent_workflow_name=msg.parent_workflow_name,
            parent_method_run_id=msg.parent_method_run_id,
            waiting_clients=[msg.reply_to] if msg.reply_to else [],
            created_at=out.now,
        )
    )
    return state


def wait_workflow(
    state: w.WorkflowState | None, msg: w.WaitWorkflow, out: StepContext
) -> w.WorkflowState | None:
    run_id = msg.method_run_id or msg.workflow_id
    run = find_run(state, run_id) if state is not None else None
    if state is None or run is None:
        ghost = state or w.WorkflowState(msg.workflow_id, msg.workflow_name)
        out.method_outcome(
            ghost, w.MethodRun(run_id, "", b"", waiting_clients=[msg.reply_to]), "unknown"
        )
        return state
    _wait(state, run, msg.reply_to, None, out, None)
    return state


def _wait(
    state: w.WorkflowState,
    run: w.MethodRun,
    reply_to: str | None,
    parent_id: str | None,
    out: StepContext,
    dispatch: w.DispatchWorkflow | None,
) -> None:
    if run.status in RUN_ENDED:
        targets = [reply_to] if reply_to else []
        probe = w.MethodRun(run.method_run_id, run.method_name, b"", waiting_clients=targets)
        if (
            dispatch is not None
            and dispatch.parent_workflow_id
            and dispatch.parent_workflow_id != run.parent_workflow_id
        ):
            probe.parent_workflow_id = dispatch.parent_workflow_id
            probe.parent_workflow_name = dispatch.parent_workflow_name
            probe.parent_method_run_id = dispatch.parent_method_run_id
        ended = typing.cast(w.OutcomeStatus, run.status)  # one of RUN_ENDED
        out.method_outcome(state, probe, ended, run.result, run.error)
        return
    if reply_to and reply_to not in run.waiting_clients:
        run.waiting_clients.append(reply_to)


def pending_key(workflow_name: str) -> str:
    return f"workflow.pending:{workflow_name}"


def tombstone_key(workflow_name: str, workflow_id: str, dispatch_id: str) -> str:
    """Kept once an instance ended, longer than its state: names the start that began it."""
    return f"workflow.ended:{workflow_name}:{workflow_id}:{dispatch_id}"


def refuse_late_start(msg: w.DispatchWorkflow, out: StepContext) -> None:
    """A copy of the start of an instance that ended and is forgotten: it starts nothing, and
    whoever waits on it is told the instance is unknown."""
    probe = w.MethodRun(
        msg.workflow_id,
        msg.method_name,
        b"",
        parent_workflow_id=msg.parent_workflow_id,
        parent_workflow_name=msg.parent_workflow_name,
        parent_method_run_id=msg.parent_method_run_id,
        waiting_clients=[msg.reply_to] if msg.reply_to else [],
    )
    out.method_outcome(w.WorkflowState(msg.workflow_id, msg.workflow_name), probe, "unknown")
