"""What comes back to a workflow: task results, timers, deadlines, child outcomes, signals."""

from __future__ import annotations

import logging

import orjson

from ....common import messages as m
from ....common import workflow_messages as w
from ....common.hashing import filter_matches
from ..context import StepContext
from ..state_ops import complete_command, find_run, next_event
from .client_commands import late_outcome

log = logging.getLogger("infinitic.engines.workflow")


def _command(
    out: StepContext, state: w.WorkflowState, method_run_id: str | None, command_id: str
) -> w.Command | None:
    run = find_run(state, method_run_id or "")
    return out.find_command(run, command_id) if run is not None else None


def _task_command(
    out: StepContext, state: w.WorkflowState, msg: m.TaskCompleted | m.TaskFailed
) -> w.Command | None:
    cmd = _command(out, state, msg.method_run_id, msg.task_id)
    if cmd is not None and m.result_retry_sequence(msg) != cmd.retry_sequence:
        # a late copy of the result of an attempt before a manual retry (or after: impossible)
        log.info(
            "result of task %s for retry %d ignored: the task is at retry %d (workflow %s)",
            msg.task_id,
            m.result_retry_sequence(msg),
            cmd.retry_sequence,
            state.workflow_id,
        )
        return None
    return cmd


def task_completed(state: w.WorkflowState, msg: m.TaskCompleted, out: StepContext) -> None:
    cmd = _task_command(out, state, msg)
    if cmd is not None:
        complete_command(out, state, cmd, "completed", msg.result)


def task_failed(state: w.WorkflowState, msg: m.TaskFailed, out: StepContext) -> None:
    cmd = _task_command(out, state, msg)
    if cmd is not None:
        complete_command(out, state, cmd, "failed", error=msg.error)


def timer_completed(state: w.WorkflowState, msg: w.TimerCompleted, out: StepContext) -> None:
    cmd = _command(out, state, msg.method_run_id, msg.command_id)
    if cmd is not None and cmd.kind == "timer":
        complete_command(out, state, cmd, "completed")


def command_timed_out(state: w.WorkflowState, msg: w.CommandTimedOut, out: StepContext) -> None:
    cmd = _command(out, state, msg.method_run_id, msg.command_id)
    if cmd is not None:
        complete_command(out, state, cmd, "timed_out")


def child_outcome(state: w.WorkflowState, msg: w.MethodOutcome, out: StepContext) -> None:
    cmd = _command(out, state, msg.parent_method_run_id, msg.method_run_id)
    if cmd is None and msg.method_run_id == msg.workflow_id:
        # a child started with a custom id: its id is not the command's
        run = find_run(state, msg.parent_method_run_id or "")
        for candidate in run.commands if run is not None else []:
            if candidate.kind == "workflow" and candidate.target_id == msg.workflow_id:
                cmd = candidate
                break
    if cmd is None:
        return
    if cmd.status == "timed_out" and msg.status == "completed":
        late_outcome(out, state, cmd, msg.status, msg.result)
        return
    complete_command(out, state, cmd, msg.status, msg.result, msg.error)


def signal(state: w.WorkflowState, msg: w.SendSignal, out: StepContext) -> None:
    """Delivered to every waiting receive of the channel whose filter matches; else discarded.

    Each delivery records the signal's message id next to it ([event index, signal, id]), so a
    redelivered copy is recognized even once a later receive waits on the same channel.
    """
    if _signal_seen(state, msg):
        log.info(
            "signal %s on %s.%s already delivered (workflow %s)",
            msg.message_id,
            state.workflow_name,
            msg.channel,
            state.workflow_id,
        )
        return
    value = None
    delivered = False
    for run in state.method_runs:
        if run.status != "running":
            continue
        for cmd in run.commands:
            if cmd.kind != "receive" or cmd.status != "ongoing" or cmd.name != msg.channel:
                continue
            if cmd.filter:
                if value is None:
                    value = orjson.loads(msg.signal)
                if not filter_matches(orjson.loads(cmd.filter), value):
                    continue
            received = orjson.loads(cmd.result) if cmd.result else []
            index = next_event(state)
            received.append([index, orjson.Fragment(msg.signal), msg.message_id])
            cmd.result = orjson.dumps(received)
            if cmd.limit and len(received) >= cmd.limit:  # 0: no limit
                cmd.status = "completed"
                cmd.completed_at = index
                w.set_command_times(cmd, w.command_times(cmd)[0], out.now)
            out.outcome(cmd)
            delivered = True
    if not delivered:
        log.info(
            "signal on %s.%s discarded: no receive waiting (workflow %s)",
            state.workflow_name,
            msg.channel,
            state.workflow_id,
        )


def _signal_seen(state: w.WorkflowState, msg: w.SendSignal) -> bool:
    marker = msg.message_id.encode()
    for run in state.method_runs:
        for cmd in run.commands:
            # the byte search skips decoding receives that cannot hold the id
            if cmd.kind != "receive" or cmd.name != msg.channel or marker not in cmd.result:
                continue
            if any(
                len(pair) > 2 and pair[2] == msg.message_id for pair in orjson.loads(cmd.result)
            ):
                return True
    return False
