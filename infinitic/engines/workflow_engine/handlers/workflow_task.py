"""WorkflowTaskCompleted: apply what a replay found, then go on."""

from __future__ import annotations

from ....common import workflow_messages as w
from ..context import StepContext
from ..state_ops import find_run
from .dispatching import dispatch_command


def workflow_task_completed(
    state: w.WorkflowState, msg: w.WorkflowTaskCompleted, out: StepContext
) -> None:
    if msg.workflow_task_id != state.running_task_id:
        return  # a duplicate, or the result of a task superseded by a cancel or a retry
    state.running_task_id = None
    state.running_method_run_id = None
    run = find_run(state, msg.method_run_id)
    if run is None or run.status != "running":
        return
    if msg.outcome == "updated":
        # a non-deterministic change: nothing of this replay is kept
        run.status = "failed"
        run.error = msg.error
        out.method_outcome(state, run, "failed", error=msg.error)
        return
    state.properties = msg.properties
    version = msg.props_store.pop(w.VERSION_META, None)
    if version is not None:  # the instance's first workflow task chose its version
        state.meta.setdefault(w.VERSION_META, version)
    state.props_store.update(msg.props_store)
    steps_from = len(run.steps)
    if msg.new_steps:
        by_position = {step.position: step for step in run.steps}
        for step in msg.new_steps:
            by_position[step.position] = step
        run.steps = sorted(by_position.values(), key=lambda s: s.position)
        first = min(step.position for step in msg.new_steps)
        steps_from = next(i for i, step in enumerate(run.steps) if step.position >= first)
    out.extended(run, len(run.commands), steps_from)
    for cmd in msg.new_commands:
        run.commands.append(cmd)
        # inline steps and sent signals are done as soon as they are recorded
        w.set_command_times(cmd, out.now, out.now if cmd.status != "ongoing" else 0.0)
        dispatch_command(state, run, cmd, out)
    if msg.outcome == "completed":
        run.status = "completed"
        run.result = msg.result
        out.method_outcome(state, run, "completed", msg.result)
    elif msg.outcome == "failed":
        run.status = "failed"
        run.error = msg.error
        out.method_outcome(state, run, "failed", error=msg.error)
