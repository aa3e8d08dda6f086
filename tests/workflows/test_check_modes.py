"""Every command kind under every check mode: a replay of an unchanged workflow over its own
history goes through; a changed one fails with WorkflowUpdatedError as documented (simple: kind
and target; strict: also the arguments; none: never)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from infinitic import Channel, Workflow, name
from infinitic.common import workflow_messages as w
from infinitic.errors import WorkflowUpdatedError
from infinitic.executors.workflow_run import WorkflowRun

KINDS = ("task", "child", "timer", "timer_until", "receive", "signal", "inline")


@name("CheckService")
class CheckService:
    def work(self, n: int) -> int: ...
    def other(self, n: int) -> int: ...


@name("CheckChild")
class CheckChild(Workflow):
    def run(self, n: int) -> int: ...


@name("CheckChildToo")
class CheckChildToo(Workflow):
    def run(self, n: int) -> int: ...


@name("CheckWorkflow")
class CheckWorkflow(Workflow):
    ch = Channel[int]()

    def run(self, kind: str, variant: int, retarget: bool) -> str: ...


class CheckWorkflowImpl(CheckWorkflow):
    """Issues one command of `kind`: `variant` changes its arguments, `retarget` its target
    (or its kind, for the kinds that have no target)."""

    def run(self, kind: str, variant: int, retarget: bool) -> str:
        if kind == "task":
            service = self.new_service(CheckService)
            self.dispatch(service.other if retarget else service.work, variant)
        elif kind == "child":
            child = self.new_workflow(CheckChildToo if retarget else CheckChild)
            self.dispatch(child.run, variant)
        elif retarget:
            # timers, receives, signals and inline steps have no target: another kind instead
            self.dispatch(self.new_service(CheckService).work, variant)
        elif kind == "timer":
            self.timer(timedelta(seconds=10 + variant))
        elif kind == "timer_until":
            self.timer_until(datetime(2030, 1, 1 + variant, tzinfo=timezone.utc))
        elif kind == "receive":
            self.ch.receive(filter={"n": variant})
        elif kind == "signal":
            self.get_workflow_by_id(CheckWorkflow, "other").ch.send(variant)
        elif kind == "inline":
            self.inline(lambda: variant)
        return "done"


def _task(commands: list[w.Command], args: list[Any], emitted_at: float) -> w.ExecuteWorkflowTask:
    run = w.MethodRun("wf", "run", orjson.dumps(args), commands=commands, start_index=0)
    return w.ExecuteWorkflowTask(
        "m", "wf", "CheckWorkflow", "wt", run, as_of=len(commands), emitted_at=emitted_at
    )


def _replay(
    kind: str, mode: str, commands: list[w.Command], variant: int, retarget: bool, at: float
) -> WorkflowRun:
    args = [kind, variant, retarget]
    impl = CheckWorkflowImpl()
    replay = WorkflowRun(_task(commands, args, at), impl, mode)
    outcome, _ = replay.execute(impl.run, args)
    assert outcome == "completed"
    return replay


def _recorded(kind: str) -> list[w.Command]:
    first = _replay(kind, "strict", [], 1, False, 1_700_000_000.0)
    assert [c.kind for c in first.new_commands] == [
        {"child": "workflow", "timer_until": "timer"}.get(kind, kind)
    ]
    return first.new_commands


@pytest.mark.parametrize("mode", ["none", "simple", "strict"])
@pytest.mark.parametrize("kind", KINDS)
def test_an_unchanged_workflow_replays_cleanly(kind: str, mode: str) -> None:
    recorded = _recorded(kind)
    # a later workflow task (another emitted_at): a relative timer must still match
    again = _replay(kind, mode, recorded, 1, False, 1_700_000_500.0)
    assert again.new_commands == []


@pytest.mark.parametrize("mode", ["none", "simple", "strict"])
@pytest.mark.parametrize("kind", KINDS)
def test_changed_arguments_fail_in_strict_mode_only(kind: str, mode: str) -> None:
    recorded = _recorded(kind)
    # an inline step has no arguments (what it returns is recorded, its code is not compared)
    if mode == "strict" and kind != "inline":
        with pytest.raises(WorkflowUpdatedError, match="the arguments of .*changed"):
            _replay(kind, mode, recorded, 2, False, 1_700_000_500.0)
    else:
        assert _replay(kind, mode, recorded, 2, False, 1_700_000_500.0).new_commands == []


@pytest.mark.parametrize("mode", ["none", "simple", "strict"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_changed_target_or_kind_fails_unless_the_mode_is_none(kind: str, mode: str) -> None:
    recorded = _recorded(kind)
    if mode == "none":
        assert _replay(kind, mode, recorded, 1, True, 1_700_000_500.0).new_commands == []
    else:
        with pytest.raises(WorkflowUpdatedError, match="was changed since it started"):
            _replay(kind, mode, recorded, 1, True, 1_700_000_500.0)


def test_a_relative_timer_keeps_the_due_time_of_its_first_run() -> None:
    recorded = _recorded("timer")
    assert recorded[0].due_at == 1_700_000_000.0 + 11
