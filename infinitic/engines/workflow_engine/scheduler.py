"""Decides when a method run needs a workflow task, and sends it."""

from __future__ import annotations

import hashlib

from ...common import messages as m
from ...common import workflow_messages as w
from ...common.hashing import props_hash
from ...common.ids import new_id, uuid_shaped
from .context import StepContext
from .waiting import needs_task


def schedule(state: w.WorkflowState, out: StepContext) -> None:
    """Sends the next workflow task, if none runs and a method run can go on."""
    if state.running_task_id is not None or state.status != "running":
        return
    for run in state.method_runs:
        if needs_task(out.index, state, run):
            dispatch_task(state, run, out)
            return


def dispatch_task(state: w.WorkflowState, run: w.MethodRun, out: StepContext) -> None:
    state.task_index += 1
    if run.start_index < 0:
        run.start_index = state.event_index
    if not run.props_at_start and state.properties:
        # with no properties saved yet, replays start from what __init__ sets
        digest = props_hash(state.properties)
        state.props_store[digest] = state.properties
        run.props_at_start = digest
    state.running_task_id = history_bound_id(state, run)
    state.running_method_run_id = run.method_run_id
    out.workflow_task(state.workflow_name, state.workflow_id)


def history_bound_id(state: w.WorkflowState, run: w.MethodRun) -> str:
    """The id of the workflow task `state` asks for: bound to the history it carries.

    Two engines holding the same state may decide one step on different outcomes (which of an
    any_of came first); their workflow tasks then carry different histories under different
    ids, so the result of one built from a history that was not saved matches no running task
    and is dropped (handlers/workflow_task.py). The same state always gives the same id, so a
    re-sent task is recognized as a duplicate.
    """
    # who waits on the run is not its history (a client may join while the task runs)
    clients, run.waiting_clients = run.waiting_clients, []
    try:
        history = m.encode(run)
    finally:
        run.waiting_clients = clients
    where = (
        f"{state.workflow_id}\x1f{state.dispatch_id}\x1f{state.task_index}\x1f{state.event_index}"
    )
    digest = hashlib.blake2b(
        b"\x1f".join((where.encode(), state.properties, history)), digest_size=16
    ).digest()
    return uuid_shaped(digest)


def workflow_task(state: w.WorkflowState, now: float) -> w.ExecuteWorkflowTask | None:
    """The message of the workflow task `state` runs (None: none runs), built from the state."""
    if state.running_task_id is None or state.running_method_run_id is None:
        return None
    run = next(
        (r for r in state.method_runs if r.method_run_id == state.running_method_run_id), None
    )
    if run is None:
        return None
    needed = {run.props_at_start} | {s.props_hash for s in run.steps if s.props_hash}
    return w.ExecuteWorkflowTask(
        message_id=new_id(),
        workflow_id=state.workflow_id,
        workflow_name=state.workflow_name,
        workflow_task_id=state.running_task_id,
        method_run=run,
        tags=state.tags,
        meta=state.meta,
        properties=state.properties,
        props_store={k: state.props_store[k] for k in needed if k in state.props_store},
        as_of=state.event_index,
        emitted_at=now,
    )
