"""The engine's waiting index decides a step exactly when the full evaluation does."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from infinitic._core import replay as kernel
from infinitic.common import workflow_messages as w
from infinitic.engines.workflow_engine import waiting
from infinitic.engines.workflow_engine.context import StepContext
from infinitic.engines.workflow_engine.state_ops import complete_command, next_event

COMMANDS = 6


def trees(commands: int) -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        st.builds(lambda i: ["c", i], st.integers(0, commands - 2)),
        st.builds(lambda n: ["r", commands - 1, n], st.integers(0, 2)),
    )
    return st.recursive(
        leaf,
        lambda children: st.builds(
            lambda kind, members: [kind, members],
            st.sampled_from(["all", "any"]),
            st.lists(children, min_size=0, max_size=4),
        ),
        max_leaves=10,
    )


outcomes = st.lists(
    st.tuples(st.integers(0, COMMANDS - 1), st.sampled_from(["completed", "failed", "timed_out"])),
    max_size=12,
)


def _state(tree: Any) -> tuple[w.WorkflowState, w.MethodRun]:
    commands = [w.Command(f"c{i}", i, "task", "S", "m") for i in range(COMMANDS - 1)] + [
        w.Command(f"c{COMMANDS - 1}", COMMANDS - 1, "receive", "ch", "", limit=3)
    ]
    step = w.Step(COMMANDS, "", orjson.dumps(tree))
    run = w.MethodRun("run", "m", b"[]", commands=commands, steps=[step])
    return w.WorkflowState("wf", "W", method_runs=[run]), run


def _signal(out: StepContext, state: w.WorkflowState, command: w.Command) -> None:
    # what the signal handler records: one more [event index, signal, id] pair
    received = orjson.loads(command.result) if command.result else []
    index = next_event(state)
    received.append([index, 1, f"s{index}"])
    command.result = orjson.dumps(received)
    if len(received) >= command.limit:
        command.status = "completed"
        command.completed_at = index
    out.outcome(command)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(tree=trees(COMMANDS), steps=outcomes, build_at=st.integers(0, 12))
def test_index_agrees_with_the_full_evaluation(tree: Any, steps: list[Any], build_at: int) -> None:
    state, run = _state(tree)
    out = StepContext()
    for count, (position, status) in enumerate(steps):
        if count == build_at:  # the index may be built before, between or after the outcomes
            out.index.decided(run)
        command = out.find_command(run, f"c{position}")
        assert command is run.commands[position]
        if command.kind == "receive":
            if command.status == "ongoing":
                _signal(out, state, command)
        else:
            complete_command(out, state, command, status)
        full = waiting.evaluate(run, state.event_index) != kernel.ONGOING
        if count >= build_at:
            assert out.index.decided(run) == full, (tree, steps[: count + 1])
    full = waiting.evaluate(run, state.event_index) != kernel.ONGOING
    assert out.index.decided(run) == full


def test_a_fan_out_is_decided_by_its_last_member_only() -> None:
    members = [["c", i] for i in range(COMMANDS - 1)]
    state, run = _state(["all", members])
    out = StepContext()
    for position in range(COMMANDS - 1):
        assert not waiting.needs_task(out.index, state, run)
        complete_command(out, state, out.find_command(run, f"c{position}"), "completed")
    assert waiting.needs_task(out.index, state, run)


def test_a_failure_decides_an_all_at_once() -> None:
    state, run = _state(["all", [["c", 0], ["c", 1]]])
    out = StepContext()
    assert not waiting.needs_task(out.index, state, run)
    complete_command(out, state, out.find_command(run, "c1"), "failed")
    assert waiting.needs_task(out.index, state, run)


def test_unknown_command_ids_are_not_found() -> None:
    state, run = _state(["c", 0])
    out = StepContext()
    assert out.find_command(run, "nope") is None
    other = w.MethodRun("other", "m", b"[]")
    assert out.find_command(other, "c0") is None
