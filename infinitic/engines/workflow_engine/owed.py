"""What of an outbox read from storage is still owed once a message was applied to its state.

A save's outbox is cleared by the next save, lazily; so an engine that reads a state from
storage (not its own cache) cannot tell whether the outbox was sent: its writer may have died
between the save and the sends. It sends it again after its own save, leaving out what the
state shows is no longer awaited (a task whose result is in, a workflow task that ended): those
copies would only run work twice. Every copy carries its first id, so what is sent twice is
recognized downstream as a duplicate.
"""

from __future__ import annotations

from ...common import messages as m
from ...common import workflow_messages as w
from .state_ops import find_run
from .waiting import StateIndex

# re-derived from the state by a re-drive (handlers/dispatching.redrive and the running task)
_DERIVED = (m.ExecuteTask, w.TimerCompleted, w.CommandTimedOut, w.DispatchWorkflow)


def _ongoing(
    index: StateIndex, state: w.WorkflowState, method_run_id: str | None, command_id: str
) -> bool:
    run = find_run(state, method_run_id or "")
    cmd = index.find_command(run, command_id) if run is not None else None
    return cmd is not None and cmd.status == "ongoing"


def still_owed(
    items: list[w.OutboxItem],
    running_before: str | None,
    state: w.WorkflowState | None,
    index: StateIndex,
    *,
    redriving: bool = False,
) -> list[w.OutboxItem]:
    """The items of `items` to send again after `state` was saved over the one they came with.

    `running_before`: the workflow task that state was running; `index`: the state's readiness
    index (waiting.py). `redriving`: a re-drive sends what the state awaits on its own, so only
    what it cannot derive is kept.
    """
    owed = []
    for item in items:
        if not item.message:
            # the workflow task: only if the same one still runs (a new one is in the new outbox)
            if not redriving and state is not None and state.running_task_id == running_before:
                owed.append(item)
            continue
        msg = m.decode(item.message)
        if isinstance(msg, _DERIVED):
            if redriving or state is None or state.status != "running":
                continue
            if isinstance(msg, m.ExecuteTask):
                run = find_run(state, msg.method_run_id or "")
                cmd = index.find_command(run, msg.task_id) if run is not None else None
                if cmd is None or cmd.status != "ongoing":
                    continue
                if cmd.retry_sequence != msg.retry_sequence:
                    continue
            elif isinstance(msg, w.DispatchWorkflow):
                if not _ongoing(index, state, msg.parent_method_run_id, msg.message_id):
                    continue
            elif not _ongoing(index, state, msg.method_run_id, msg.command_id):
                continue
        owed.append(item)
    return owed
