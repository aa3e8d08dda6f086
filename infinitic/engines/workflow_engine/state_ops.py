"""Small operations on a workflow state shared by the handlers."""

from __future__ import annotations

from ...common import workflow_messages as w
from .context import StepContext

# an instance has ended once completed or canceled; a failed one stays until it is canceled or
# retried (Infinitic: it waits for a fix), with its state, tags and pending work, no retention
TERMINAL = ("completed", "canceled")
# a method run has ended (a failed one may still be retried)
RUN_ENDED = ("completed", "failed", "canceled")


def find_run(state: w.WorkflowState, method_run_id: str) -> w.MethodRun | None:
    for run in state.method_runs:
        if run.method_run_id == method_run_id:
            return run
    return None


def main_run(state: w.WorkflowState) -> w.MethodRun | None:
    return find_run(state, state.workflow_id)


def next_event(state: w.WorkflowState) -> int:
    state.event_index += 1
    return state.event_index


def complete_command(
    out: StepContext,
    state: w.WorkflowState,
    command: w.Command,
    status: w.CommandStatus,
    result: bytes = b"",
    error: object = None,
) -> bool:
    """Sets a command's outcome once; False if it had one already (a duplicate message). The
    step's time is kept with the command's dispatch time."""
    if command.status != "ongoing":
        return False
    w.set_command_times(command, w.command_times(command)[0], out.now)
    command.status = status
    command.result = result
    command.error = error  # type: ignore[assignment]
    command.completed_at = next_event(state)
    out.outcome(command)
    return True


def refresh_status(state: w.WorkflowState) -> None:
    """The instance ends when every method run has; its status is its main run's. A failed
    instance is running again once a run is (a retried task, a child ending late)."""
    if state.status in TERMINAL:
        return
    if all(run.status in RUN_ENDED for run in state.method_runs):
        main = main_run(state)
        state.status = main.status if main is not None else "completed"
    else:
        state.status = "running"


def gc_properties(state: w.WorkflowState) -> None:
    """Drops property snapshots that no running method run can replay any more."""
    keep = set()
    for run in state.method_runs:
        if run.status in ("completed", "canceled"):
            continue  # a failed run may be retried: it keeps what its replay needs
        if run.props_at_start:
            keep.add(run.props_at_start)
        keep.update(step.props_hash for step in run.steps if step.props_hash)
    for key in [k for k in state.props_store if k not in keep]:
        del state.props_store[key]
