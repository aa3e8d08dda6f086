"""Whether a method run can go on, in O(1) per outcome: the engine's in-memory index of a state.

Re-evaluating a run's waiting step over its whole history at every outcome made a fan-out of n
tasks cost O(n²). The index maps command ids to commands and keeps, for the step each run waits
on, how many members of each all/any node are decided; an outcome updates only the nodes above
its leaf. It is only in memory, in the step's context (context.py): the engine keeps it with
the state it caches, a state read from storage gets a new one (built on first use), and a step
starts a new one before any message that may change a state in other ways than recording
outcomes or adding a workflow task's commands and steps (see `process`). `_core.replay`'s full
evaluation stays the reference: with `VERIFY` set (the tests set it) every answer of the index is
checked against it (INFINITIC_VERIFY_WAITING=1).
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from ..._core import replay as kernel
from ...common import workflow_messages as w

# a debugging aid, set by the test suite: check every answer against the full evaluation
VERIFY = os.environ.get("INFINITIC_VERIFY_WAITING", "") not in ("", "0")

_STATUS = {name: i for i, name in enumerate(kernel.STATUS_NAMES)}


def as_tree(node: Any) -> Any:
    if isinstance(node, list):
        return tuple(as_tree(x) for x in node)
    return node


def history_of(run: w.MethodRun) -> kernel.History:
    history = kernel.History()
    for command in run.commands:
        signal_at: list[int] = []
        if command.kind == "receive" and command.result:
            signal_at = [int(pair[0]) for pair in orjson.loads(command.result)]
        history.add(command.kind, "", "", _STATUS[command.status], command.completed_at, signal_at)
    return history


def evaluate(run: w.MethodRun, as_of: int) -> int:
    """The full evaluation of the run's last step: its kernel status as of `as_of`."""
    tree = as_tree(orjson.loads(run.steps[-1].tree))
    status, _, _ = history_of(run).evaluate(tree, as_of)
    return int(status)


class _Node:
    """An all/any node, or a leaf (kind "c" or "r"), of a waiting step's tree."""

    __slots__ = ("kind", "parent", "size", "done", "failed", "status", "nth")

    def __init__(self, kind: str, parent: _Node | None, size: int = 0, nth: int = 0) -> None:
        self.kind = kind
        self.parent = parent
        self.size = size
        self.done = 0
        self.failed = 0
        self.status = kernel.ONGOING  # once decided: COMPLETED or the failure's status
        self.nth = nth  # "r" leaves: which signal of the receive


class _Wait:
    """The step a run waits on, with its leaves by command position."""

    __slots__ = ("step", "root", "leaves")

    def __init__(self, step: w.Step) -> None:
        self.step = step
        self.leaves: dict[int, list[_Node]] = {}
        self.root = self._build(as_tree(orjson.loads(step.tree)), None)

    def _build(self, node: Any, parent: _Node | None) -> _Node:
        tag = node[0]
        if tag in ("c", "r"):
            leaf = _Node(tag, parent, nth=int(node[2]) if tag == "r" else 0)
            self.leaves.setdefault(int(node[1]), []).append(leaf)
            return leaf
        if tag not in ("all", "any"):
            raise ValueError(f"unknown step node {tag!r}")
        children = node[1]
        inner = _Node(tag, parent, size=len(children))
        for child in children:
            self._build(child, inner)
        if not children and tag == "all":  # met at once (an empty any never is)
            _decide(inner, kernel.COMPLETED)
        return inner

    def update(self, position: int, command: w.Command) -> None:
        for leaf in self.leaves.get(position, ()):
            if leaf.status == kernel.ONGOING:
                status = _leaf_status(leaf, command)
                if status != kernel.ONGOING:
                    _decide(leaf, status)


def _leaf_status(leaf: _Node, command: w.Command) -> int:
    if leaf.kind == "r" and command.result:
        if leaf.nth < len(orjson.loads(command.result)):
            return kernel.COMPLETED
    if command.completed_at < 0:
        return kernel.ONGOING
    status = _STATUS[command.status]
    if leaf.kind == "r" and status == kernel.COMPLETED:
        return kernel.ONGOING  # a receive that ended before this signal came: never
    return status


def _decide(node: _Node, status: int) -> None:
    """Marks `node` decided and carries the news up as far as it decides ancestors."""
    node.status = status
    parent = node.parent
    while parent is not None and parent.status == kernel.ONGOING:
        if status == kernel.COMPLETED:
            parent.done += 1
        else:
            parent.failed += 1
        if parent.kind == "all":
            # the first failure decides an all (with that failure); else all members must complete
            if not parent.failed and parent.done < parent.size:
                return
        elif parent.done:
            status = kernel.COMPLETED  # the first completed member decides an any
        elif parent.failed < parent.size:
            return  # an any fails only once every member has failed
        parent.status = status
        parent = parent.parent


class StateIndex:
    """Commands by id and each run's waiting step, for one in-memory state."""

    __slots__ = ("runs", "waits", "counted")

    def __init__(self) -> None:
        # command id -> (run, position); extended as runs grow (commands are only appended)
        self.runs: dict[str, tuple[w.MethodRun, int]] = {}
        self.waits: dict[str, _Wait] = {}
        self.counted: dict[str, int] = {}  # method run id -> commands indexed so far

    def _extend(self, run: w.MethodRun) -> None:
        start = self.counted.get(run.method_run_id, 0)
        commands = run.commands
        if start < len(commands):
            for position in range(start, len(commands)):
                self.runs[commands[position].command_id] = (run, position)
            self.counted[run.method_run_id] = len(commands)

    def find_command(self, run: w.MethodRun, command_id: str) -> w.Command | None:
        found = self.runs.get(command_id)
        if found is None or found[0] is not run:
            self._extend(run)
            found = self.runs.get(command_id)
            if found is None or found[0] is not run:
                return None
        return run.commands[found[1]]

    def outcome(self, command: w.Command) -> tuple[w.MethodRun, int] | None:
        """Records that `command` got (part of) its outcome; returns its run and position, None
        if it was not looked up through the index (its run's wait, if any, sees it when built)."""
        found = self.runs.get(command.command_id)
        if found is not None:
            wait = self.waits.get(found[0].method_run_id)
            if wait is not None:
                wait.update(found[1], command)
        return found

    def decided(self, run: w.MethodRun) -> bool:
        """Whether the step `run` waits on (its last, not terminated) is decided."""
        step = run.steps[-1]
        wait = self.waits.get(run.method_run_id)
        if wait is None or wait.step is not step:
            self._extend(run)
            wait = _Wait(step)
            for position in wait.leaves:
                if position < len(run.commands):
                    wait.update(position, run.commands[position])
            self.waits[run.method_run_id] = wait
        return wait.root.status != kernel.ONGOING


def needs_task(index: StateIndex, state: w.WorkflowState, run: w.MethodRun) -> bool:
    """Whether `run` can go on: it never ran, is to run again, or its waiting step is decided."""
    if run.status != "running":
        return False
    if not run.steps or run.steps[-1].terminated_at >= 0:
        # after a workflow task a running run waits at its last step; without one it has
        # never run, or it is to run again (retry_workflow_task)
        return True
    decided = index.decided(run)
    if VERIFY and decided != (evaluate(run, state.event_index) != kernel.ONGOING):
        raise AssertionError(
            f"the waiting index of {state.workflow_id}/{run.method_run_id} finds its step "
            f"{'decided' if decided else 'ongoing'}; the full evaluation disagrees"
        )
    return decided
