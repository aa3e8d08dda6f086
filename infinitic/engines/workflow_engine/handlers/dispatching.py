"""Sends what a recorded command asks for: tasks, child workflows, methods, timers, signals."""

from __future__ import annotations

from ....common import messages as m
from ....common import workflow_messages as w
from ....common.ids import new_id
from ....transport.base import Topics
from ..context import StepContext


def dispatch_command(
    state: w.WorkflowState, run: w.MethodRun, cmd: w.Command, out: StepContext
) -> None:
    kind = cmd.kind
    if kind == "task":
        send_task(state, run, cmd, out)
    elif kind == "workflow":
        # a child with a custom id has the id derived from it (target_id), else the command's
        child_id = cmd.target_id or cmd.command_id
        out.to_engine(
            cmd.name,
            child_id,
            w.DispatchWorkflow(
                cmd.command_id,
                child_id,
                cmd.name,
                cmd.method,
                cmd.args,
                cmd.tags,
                w.forwarded_meta(cmd),
                None,
                state.workflow_id,
                state.workflow_name,
                run.method_run_id,
                out.now,
            ),
        )
    elif kind == "method":
        assert cmd.target_id is not None
        out.to_engine(
            cmd.name,
            cmd.target_id,
            w.DispatchMethod(
                new_id(),
                cmd.target_id,
                cmd.name,
                cmd.command_id,
                cmd.method,
                cmd.args,
                None,
                state.workflow_id,
                state.workflow_name,
                run.method_run_id,
                out.now,
            ),
        )
    elif kind == "timer":
        arm_timer(state, run, cmd, out)
    elif kind == "signal":
        # the command's id as the message id: a re-sent signal is recognized as a duplicate
        if cmd.target_tag is not None:
            out.to_tag_engine(
                cmd.name,
                cmd.target_tag,
                w.TagCommand(
                    cmd.command_id,
                    cmd.name,
                    cmd.target_tag,
                    "signal",
                    channel=cmd.method,
                    signal=cmd.args,
                    emitted_at=out.now,
                ),
            )
        elif cmd.target_id is not None:
            out.to_engine(
                cmd.name,
                cmd.target_id,
                w.SendSignal(
                    cmd.command_id,
                    cmd.target_id,
                    cmd.name,
                    cmd.method,
                    cmd.args,
                    out.now,
                ),
            )
    if cmd.deadline > 0 and cmd.status == "ongoing":
        out.to_engine(
            state.workflow_name,
            state.workflow_id,
            w.CommandTimedOut(
                new_id(),
                state.workflow_id,
                state.workflow_name,
                run.method_run_id,
                cmd.command_id,
                out.now,
            ),
            delay=cmd.deadline - out.now,
        )


def send_task(state: w.WorkflowState, run: w.MethodRun, cmd: w.Command, out: StepContext) -> None:
    out.send(
        Topics.task_executor(cmd.name),
        m.ExecuteTask(
            message_id=new_id(),
            task_id=cmd.command_id,
            service_name=cmd.name,
            task_name=cmd.method,
            args=cmd.args,
            tags=cmd.tags,
            meta=w.forwarded_meta(cmd),
            retry_sequence=cmd.retry_sequence,
            workflow_id=state.workflow_id,
            workflow_name=state.workflow_name,
            method_run_id=run.method_run_id,
            emitted_at=out.now,
        ),
    )


def arm_timer(state: w.WorkflowState, run: w.MethodRun, cmd: w.Command, out: StepContext) -> None:
    out.to_engine(
        state.workflow_name,
        state.workflow_id,
        w.TimerCompleted(
            new_id(),
            state.workflow_id,
            state.workflow_name,
            run.method_run_id,
            cmd.command_id,
            out.now,
        ),
        delay=cmd.due_at - out.now,
    )


def redrive(state: w.WorkflowState, out: StepContext) -> None:
    """After a restart: re-send what the state says is pending. Ids are deterministic, so a
    duplicate of something that did go out is recognized and ignored downstream."""
    for run in state.method_runs:
        if run.status != "running":
            continue
        for cmd in run.commands:
            if cmd.status != "ongoing":
                continue
            if cmd.kind in ("task", "workflow", "method", "timer"):
                dispatch_command(state, run, cmd, out)
            elif cmd.deadline > 0:
                dispatch_command(state, run, cmd, out)
