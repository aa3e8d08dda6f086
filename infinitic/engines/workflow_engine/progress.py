"""The engine's progress log: at DEBUG each handled message, dispatch and outcome, with the
workflow id and the task or command ids; at WARNING only a failure no workflow code handled
(an instance that fails); a task failure the workflow may catch is the executor's INFO."""

from __future__ import annotations

import logging
from typing import Any

from ...common import messages as m
from ...common import workflow_messages as w
from .context import StepContext

log = logging.getLogger("infinitic.engines.workflow")


def _what(msg: Any) -> str:
    """A message in a few words, with the ids that let one follow it."""
    kind = type(msg).__name__
    if isinstance(msg, m.ExecuteTask):
        return f"{kind} {msg.service_name}.{msg.task_name} task {msg.task_id}"
    if isinstance(msg, (m.TaskCompleted, m.TaskFailed)):
        return f"{kind} {msg.service_name}.{msg.task_name} task {msg.task_id}"
    if isinstance(msg, w.ExecuteWorkflowTask):
        return f"{kind} {msg.workflow_task_id} (method run {msg.method_run.method_run_id})"
    if isinstance(msg, w.WorkflowTaskCompleted):
        return f"{kind} {msg.workflow_task_id}: {msg.outcome}, {len(msg.new_commands)} new commands"
    if isinstance(msg, (w.TimerCompleted, w.CommandTimedOut)):
        return f"{kind} command {msg.command_id}"
    if isinstance(msg, w.MethodOutcome):
        return f"{kind} {msg.workflow_name} {msg.workflow_id} {msg.method_name}: {msg.status}"
    if isinstance(msg, (w.DispatchWorkflow, w.DispatchMethod)):
        return f"{kind} {msg.workflow_name}.{msg.method_name} {msg.workflow_id}"
    return kind


def handled(
    name: str,
    workflow_id: str,
    msg: Any,
    state: w.WorkflowState | None,
    status_before: str | None,
    out: StepContext,
) -> None:
    """Logs what handling `msg` did (called once its state is saved)."""
    status = state.status if state is not None else None
    if status == "failed" and status_before != "failed" and state is not None:
        error = next((r.error for r in state.method_runs if r.error is not None), None)
        log.warning(
            "workflow %s %s failed: %s (kept until canceled or retried)",
            name,
            workflow_id,
            f"{error.name}: {error.message}" if error is not None else "no error recorded",
        )
    if not log.isEnabledFor(logging.DEBUG):
        return
    log.debug("workflow %s %s: handled %s -> %s", name, workflow_id, _what(msg), status)
    for item in out.sends:
        log.debug(
            "workflow %s %s: sent %s to %s", name, workflow_id, _what(item.message), item.topic
        )
