"""The pure workflow engine, one message at a time, without transport or storage (DESIGN §2:
engines are (state, message) in, (new state, messages out) out)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from infinitic.common import messages as m
from infinitic.common import workflow_messages as w
from tests.engines.step import NOW, Step, step

WF, ID, SERVICE = "Hello", "wf-1", "HelloService"
TASKS = f"task-executor:{SERVICE}"
WORKFLOW_TASKS = f"workflow-task-executor:{WF}"
ENGINE = f"workflow-engine:{WF}"
TAGS = f"workflow-tag:{WF}"
PENDING = f"workflow.pending:{WF}"


def dispatch(tags: frozenset[str] = frozenset(), reply_to: str | None = "client-1") -> Any:
    return w.DispatchWorkflow("d-1", ID, WF, "run", b'["x"]', tags, {}, reply_to)


def started(tags: frozenset[str] = frozenset()) -> w.WorkflowState:
    state = step(None, dispatch(tags)).state
    assert state is not None
    return state


def task(position: int) -> w.Command:
    return w.Command(f"c-{position}", position, "task", SERVICE, "greet", b'["x"]')


def awaiting(position: int, tree: Any) -> w.Step:
    return w.Step(position, f"sig-{position}", orjson.dumps(tree))


def replayed(
    state: w.WorkflowState,
    commands: list[w.Command],
    steps: list[w.Step],
    outcome: str = "waiting",
    result: bytes = b"",
    task_id: str | None = None,
) -> Step:
    """The running workflow task's result: what the replay of the run found."""
    done = w.WorkflowTaskCompleted(
        "wtc", ID, WF, ID, task_id or str(state.running_task_id), outcome, commands, steps
    )
    done.result = result
    return step(state, done)


def completed(command: w.Command, result: bytes = b'"hi"') -> m.TaskCompleted:
    return m.TaskCompleted(
        f"tc-{command.command_id}",
        command.command_id,
        SERVICE,
        "greet",
        result,
        workflow_id=ID,
        workflow_name=WF,
        method_run_id=ID,
    )


def test_a_start_creates_the_instance_and_sends_its_first_workflow_task() -> None:
    first = step(None, dispatch(frozenset({"user:1"})))
    state = first.state
    assert state is not None and state.status == "running"
    [run] = state.method_runs
    assert (run.method_run_id, run.method_name, run.args) == (ID, "run", b'["x"]')
    assert run.waiting_clients == ["client-1"]
    assert [(s.topic, s.message, s.key) for s in first.sent if s.topic == WORKFLOW_TASKS] == [
        (WORKFLOW_TASKS, None, ID)
    ]
    [tag] = first.to(TAGS)
    assert (tag.tag, tag.action, tag.workflow_id) == ("user:1", "add", ID)
    assert first.set_ops == [("add", PENDING, ID)]


def test_a_duplicate_start_starts_nothing_more() -> None:
    state = started()
    running = state.running_task_id
    again = step(state, dispatch())
    assert again.sent == [] and again.set_ops == []
    assert again.state is state and len(state.method_runs) == 1
    assert state.running_task_id == running


def test_a_result_for_an_unknown_instance_is_dropped() -> None:
    dropped = step(None, completed(task(0)))
    assert (dropped.state, dropped.sent, dropped.set_ops) == (None, [], [])


def test_a_task_is_sent_and_its_result_resumes_the_run() -> None:
    state = started()
    waiting = replayed(state, [task(0)], [awaiting(1, ["c", 0])])
    [execute] = waiting.to(TASKS)
    assert (execute.task_id, execute.task_name, execute.args) == ("c-0", "greet", b'["x"]')
    assert (execute.workflow_id, execute.method_run_id) == (ID, ID)
    assert waiting.to(WORKFLOW_TASKS) == [] and state.running_task_id is None

    resumed = step(state, completed(task(0)))
    assert resumed.to(WORKFLOW_TASKS) == [None]
    command = state.method_runs[0].commands[0]
    assert (command.status, command.result) == ("completed", b'"hi"')


def test_all_of_waits_for_its_last_member_and_a_duplicate_result_changes_nothing() -> None:
    state = started()
    replayed(state, [task(0), task(1)], [awaiting(2, ["all", [["c", 0], ["c", 1]]])])
    first = step(state, completed(task(0)))
    assert first.sent == []
    duplicate = step(state, completed(task(0), b'"other"'))
    assert duplicate.sent == []
    assert [c.status for c in state.method_runs[0].commands] == ["completed", "ongoing"]
    assert state.method_runs[0].commands[0].result == b'"hi"'
    last = step(state, completed(task(1)))
    assert last.to(WORKFLOW_TASKS) == [None]


def test_a_result_arriving_while_a_workflow_task_runs_waits_for_its_end() -> None:
    state = started()
    replayed(state, [task(0), task(1)], [awaiting(2, ["c", 0])])
    step(state, completed(task(0)))  # the run goes on: a workflow task runs
    assert state.running_task_id is not None
    early = step(state, completed(task(1)))
    assert early.sent == [] and state.method_runs[0].commands[1].status == "ongoing"
    after = replayed(state, [], [awaiting(3, ["c", 1])])
    assert state.method_runs[0].commands[1].status == "completed"
    assert after.to(WORKFLOW_TASKS) == [None]


def test_a_stale_workflow_task_result_changes_nothing() -> None:
    state = started()
    stale = replayed(state, [task(0)], [awaiting(1, ["c", 0])], task_id="not-the-running-one")
    assert stale.sent == [] and state.method_runs[0].commands == []
    assert state.running_task_id is not None


def test_completion_answers_the_waiting_clients_and_clears_the_instance_s_marks() -> None:
    state = started(frozenset({"user:1"}))
    done = replayed(state, [], [], outcome="completed", result=b'"hello x"')
    assert state.status == "completed"
    [outcome] = done.to("client-1")
    assert (outcome.status, outcome.result, outcome.method_run_id) == (
        "completed",
        b'"hello x"',
        ID,
    )
    [untag] = done.to(TAGS)
    assert (untag.tag, untag.action) == ("user:1", "remove")
    assert ("remove", PENDING, ID) in done.set_ops
    assert [op for op, _, _ in done.set_ops].count("tombstone") == 1

    late = step(state, w.WaitWorkflow("wait-1", ID, WF, None, "client-2"))
    [answer] = late.to("client-2")
    assert (answer.status, answer.result) == ("completed", b'"hello x"')


def test_waiting_on_an_unknown_instance_answers_unknown() -> None:
    unknown = step(None, w.WaitWorkflow("wait-1", "nope", WF, None, "client-2"))
    [answer] = unknown.to("client-2")
    assert (answer.workflow_id, answer.status) == ("nope", "unknown")
    assert unknown.state is None


def test_a_failed_replay_fails_the_run_and_keeps_its_history() -> None:
    state = started()
    replayed(state, [task(0)], [awaiting(1, ["c", 0])])
    step(state, completed(task(0)))
    error = m.ErrorInfo("w", "infinitic.errors.WorkflowUpdatedError", "changed", "")
    updated = w.WorkflowTaskCompleted(
        "wtc-2", ID, WF, ID, str(state.running_task_id), "updated", [task(2)], error=error
    )
    failed = step(state, updated)
    [outcome] = failed.to("client-1")
    assert (outcome.status, outcome.error) == ("failed", error)
    assert [c.command_id for c in state.method_runs[0].commands] == ["c-0"]  # nothing kept
    assert state.status == "failed"


def test_a_timer_is_armed_as_a_delayed_message_to_the_engine_itself() -> None:
    state = started()
    timer = w.Command("t-0", 0, "timer", "", "", due_at=NOW + 60)
    armed = replayed(state, [timer], [awaiting(1, ["c", 0])])
    [sent] = [s for s in armed.sent if s.topic == ENGINE]
    assert (sent.key, sent.delay, type(sent.message)) == (ID, 60.0, w.TimerCompleted)
    fired = step(state, sent.message, now=NOW + 60)
    assert fired.to(WORKFLOW_TASKS) == [None]


def test_cancel_ends_the_runs_and_cancels_ongoing_children() -> None:
    state = started()
    child = w.Command("child-1", 0, "workflow", "Child", "run", b"[]")
    replayed(state, [child], [awaiting(1, ["c", 0])])
    assert step(None, w.CancelWorkflow("x", "other", WF)).sent == []  # no such instance
    canceled = step(state, w.CancelWorkflow("cancel-1", ID, WF, "enough"))
    assert state.status == "canceled"
    [outcome] = canceled.to("client-1")
    assert outcome.status == "canceled"
    [cancel_child] = canceled.to("workflow-engine:Child")
    assert (type(cancel_child), cancel_child.workflow_id) == (w.CancelWorkflow, "child-1")


def test_a_message_the_engine_does_not_handle_is_refused_by_name() -> None:
    execute = m.ExecuteTask("x", "t", SERVICE, "greet", b"[]")
    with pytest.raises(TypeError, match="does not handle ExecuteTask"):
        step(started(), execute)
