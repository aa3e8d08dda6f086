"""Decides when a method run needs a workflow task, and sends it."""

from __future__ import annotations

from typing import Any

import orjson

from ..._core import replay as kernel
from ...common import workflow_messages as w
from ...common.ids import deterministic_id, new_id
from ...transport.base import Topics
from ...workflow.replay import props_hash
from .outbox import Outbox

_STATUS = {name: i for i, name in enumerate(kernel.STATUS_NAMES)}


def history_of(run: w.MethodRun) -> kernel.History:
    history = kernel.History()
    for command in run.commands:
        signal_at: list[int] = []
        if command.kind == "receive" and command.result:
            signal_at = [int(pair[0]) for pair in orjson.loads(command.result)]
        history.add(command.kind, "", "", _STATUS[command.status], command.completed_at, signal_at)
    return history


def as_tree(node: Any) -> Any:
    if isinstance(node, list):
        return tuple(as_tree(x) for x in node)
    return node


def needs_task(run: w.MethodRun, as_of: int) -> bool:
    if run.status != "running":
        return False
    if not run.steps or run.steps[-1].terminated_at >= 0:
        # after a workflow task a running run waits at its last step; without one it has
        # never run, or it is to run again (retry_workflow_task)
        return True
    tree = as_tree(orjson.loads(run.steps[-1].tree))
    status, _, _ = history_of(run).evaluate(tree, as_of)
    return bool(status != kernel.ONGOING)


def schedule(state: w.WorkflowState, out: Outbox) -> None:
    """Sends the next workflow task, if none runs and a method run can go on."""
    if state.running_task_id is not None or state.status != "running":
        return
    for run in state.method_runs:
        if needs_task(run, state.event_index):
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
