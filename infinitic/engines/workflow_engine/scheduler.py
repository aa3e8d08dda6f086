"""Decides when a method run needs a workflow task, and sends it."""

from __future__ import annotations

from ...common import workflow_messages as w
from ...common.ids import deterministic_id, new_id
from ...transport.base import Topics
from ...workflow.replay import props_hash
from .outbox import Outbox
from .waiting import needs_task


def schedule(state: w.WorkflowState, out: Outbox) -> None:
    """Sends the next workflow task, if none runs and a method run can go on."""
    if state.running_task_id is not None or state.status != "running":
        return
    for run in state.method_runs:
        if needs_task(state, run):
            dispatch_task(state, run, out)
            return


def dispatch_task(state: w.WorkflowState, run: w.MethodRun, out: Outbox) -> None:
    state.task_index += 1
    task_id = deterministic_id(state.workflow_id, "workflow-task", str(state.task_index))
    if run.start_index < 0:
        run.start_index = state.event_index
    if not run.props_at_start and state.properties:
        # with no properties saved yet, replays start from what __init__ sets
        digest = props_hash(state.properties)
        state.props_store[digest] = state.properties
        run.props_at_start = digest
    state.running_task_id = task_id
    state.running_method_run_id = run.method_run_id
    needed = {run.props_at_start} | {s.props_hash for s in run.steps if s.props_hash}
    out.send(
        Topics.workflow_task_executor(state.workflow_name),
        w.ExecuteWorkflowTask(
            message_id=new_id(),
            workflow_id=state.workflow_id,
            workflow_name=state.workflow_name,
            workflow_task_id=task_id,
            method_run=run,
            tags=state.tags,
            meta=state.meta,
            properties=state.properties,
            props_store={k: state.props_store[k] for k in needed if k in state.props_store},
            as_of=state.event_index,
            emitted_at=out.now,
        ),
        key=state.workflow_id,
    )


def resend_running_task(state: w.WorkflowState, out: Outbox) -> None:
    """Re-drive after a restart: the running workflow task again, with the same id."""
    if state.running_task_id is None or state.running_method_run_id is None:
        return
    for run in state.method_runs:
        if run.method_run_id == state.running_method_run_id:
            state.task_index -= 1
            state.running_task_id = None
            dispatch_task(state, run, out)
            return
