"""The workflow runtime: one workflow task re-runs a method run from its start over its history.

The workflow API (`infinitic.workflow`) reaches it through `workflow/_context.py`: `execute`
binds the run as the current one while the method runs, and the API's commands and awaits are
the methods of `WorkflowRuntime` implemented here.

Every command (dispatch, timer, receive, signal, inline) and every await takes the next
position. A command at a known position must match the recorded one (by the check mode) and
gets its recorded outcome; a new one is collected for the engine to dispatch. An await at a known
position replays the step as of the event index it was decided at, and restores the properties
the instance had when the method resumed after it; the first await not yet decided suspends the
run (`_Suspend`, a BaseException so user `except Exception` blocks cannot swallow it).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from .. import errors
from .._core import replay as kernel
from ..common import messages, serialization
from ..common.hashing import args_hash, props_hash
from ..common.ids import deterministic_id
from ..common.messages import ErrorInfo
from ..common.workflow_messages import (
    PREVIOUS_OUTCOMES_META,
    Command,
    CommandKind,
    CommandStatus,
    ExecuteWorkflowTask,
    Step,
)
from ..workflow import aio
from ..workflow._context import Pending, enter, leave
from ..workflow.deferred import Deferred
from ..workflow.stubs import is_stub

CHECK_MODES = {
    "none": kernel.CHECK_NONE,
    "simple": kernel.CHECK_SIMPLE,
    "strict": kernel.CHECK_STRICT,
}
_STATUS = {name: i for i, name in enumerate(kernel.STATUS_NAMES)}


class _Suspend(BaseException):
    """Ends the replay at a step that is not decided yet."""


class WorkflowRun:
    """Replays one method run (a `workflow._context.WorkflowRuntime`); `execute()` returns
    how it ended."""

    def __init__(
        self,
        task: ExecuteWorkflowTask,
        instance: object | None,
        check_mode: str,
        max_payload_bytes: int = serialization.DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        """`instance` None: give one with `instantiate` before `execute`."""
        self.instance = instance
        self.max_payload_bytes = max_payload_bytes
        self.mode = CHECK_MODES[check_mode]
        self.position = -1
        self.hints = _property_hints(type(instance)) if instance is not None else {}
        self.inline_depth = 0  # > 0 while an inline step runs: no commands, no awaits there
        self.result_types: dict[int, Any] = {}
        # set when the run is kept alive between workflow tasks (executors/live_runs.py): an
        # undecided await then waits there for the next task instead of ending the replay
        self.live: Any = None
        # running an `async def` method: stub calls of `async def`-declared methods are awaited
        self.in_coroutine = False
        self.load(task)

    def load(self, task: ExecuteWorkflowTask) -> None:
        """Takes the history of `task`; a live run is given each next task this way."""
        self.task = task
        self.run = task.method_run
        self.history = kernel.History()
        self.commands: list[Command] = []
        self._command_at: dict[int, int] = {}  # position -> index in self.commands
        self._receive_values: dict[int, list[Any]] = {}
        # commands retried after the workflow caught their failure: their earlier outcomes
        self._rewound: dict[int, list[tuple[CommandStatus, int, ErrorInfo | None]]] = {}
        for command in self.run.commands:
            self._append(command)
            if PREVIOUS_OUTCOMES_META in command.meta:
                self._rewound[len(self.commands) - 1] = _previous_outcomes(command)
        self._past_steps = {step.position: step for step in self.run.steps}
        self.new_commands: list[Command] = []
        self.new_steps: list[Step] = []
        self.props_store: dict[str, bytes] = {}
        self.now_index = self.run.start_index
        self.resumed = False
        self._last_position = max(
            [c.position for c in self.run.commands] + [st.position for st in self.run.steps],
            default=-1,
        )

    def instantiate(self, factory: Callable[[], object]) -> object:
        """`factory()` with this run's context readable, so the implementation's `__init__`
        can read `self.workflow_id`, `workflow_name`, `tags` and `meta`."""
        token = enter(self)
        try:
            self.instance = factory()
        finally:
            leave(token)
        self.hints = _property_hints(type(self.instance))
        return self.instance

    # -- bookkeeping -------------------------------------------------------------------------

    def _append(self, command: Command) -> int:
        signal_at: list[int] = []
        if command.kind == "receive" and command.result:
            pairs = orjson.loads(command.result)
            signal_at = [int(p[0]) for p in pairs]
            self._receive_values[len(self.commands)] = [p[1] for p in pairs]
        index = self.history.add(
            command.kind,
            _target(command),
            command.args_hash,
            _STATUS[command.status],
            command.completed_at,
            signal_at,
        )
        self.commands.append(command)
        self._command_at[command.position] = index
        return index

    def _next_position(self) -> int:
        self.position += 1
        return self.position

    def _updated(self, position: int, detail: str) -> errors.WorkflowUpdatedError:
        return errors.WorkflowUpdatedError(
            f"workflow {self.task.workflow_name} ({self.task.workflow_id}) was changed since it "
            f"started, at position {position} of method {self.run.method_name}: {detail}"
        )

    # -- commands ---------------------------------------------------------------------------

    def command(
        self,
        kind: CommandKind,
        name: str,
        method: str,
        args: bytes,
        result_type: Any = Any,
        **extra: Any,
    ) -> int:
        """Records (or matches) a command at the next position; returns its index."""
        if self.inline_depth:
            raise self._in_inline(f"a {kind} command")
        position = self._next_position()
        digest = args_hash(args)
        known = self._command_at.get(position)
        if known is not None:
            target = _target_of(kind, name, method)
            problem = self.history.mismatch(known, kind, target, digest, self.mode)
            if problem is not None:
                raise self._updated(position, problem)
            self.result_types[known] = result_type
            return known
        if position in self._past_steps:
            raise self._updated(position, f"expected an await, found a {kind} command")
        if position <= self._last_position:
            raise self._updated(position, f"a {kind} command where the history has none")
        command = Command(
            command_id=deterministic_id(
                self.task.workflow_id, self.run.method_run_id, str(position)
            ),
            position=position,
            kind=kind,
            name=name,
            method=method,
            args=args,
            args_hash=digest,
            **extra,
        )
        self.new_commands.append(command)
        index = self._append(command)
        self.result_types[index] = result_type
        return index

    def complete_now(self, index: int, result: bytes) -> None:
        """A command that completes as it is created (inline, signal sent)."""
        command = self.commands[index]
        if command.status != "completed":
            command.status = "completed"
            command.result = result
            command.completed_at = self.now_index
            self.history.statuses[index] = kernel.COMPLETED
            self.history.completed_at[index] = self.now_index

    # -- awaits -----------------------------------------------------------------------------

    def _in_inline(self, what: str) -> errors.InvalidInlineError:
        return errors.InvalidInlineError(
            f"workflow {self.task.workflow_name}, method {self.run.method_name}: {what} inside an "
            "inline step; an inline step may not dispatch, call a stub, start a timer, receive "
            "or await: do that in the workflow method, around the inline step"
        )

    def await_deferred(self, deferred: Pending) -> Any:
        if self.inline_depth:
            raise self._in_inline("an await")
        tree = deferred._leaf
        if tree[0] == "r":
            tree = self._receive_tree(deferred)
            deferred._receives += 1
        position = self._next_position()
        signature = kernel.step_signature(tree)
        while True:
            past = self._past_steps.get(position)
            if past is None and position in self._command_at:
                raise self._updated(position, "expected a command, found an await")
            if past is not None and past.signature != signature:
                raise self._updated(
                    position, f"awaits {signature} where it awaited {past.signature}"
                )
            if past is not None and past.terminated_at >= 0:
                self._restore(
                    self.props_store.get(past.props_hash) or self.task.props_store[past.props_hash]
                )
                self.now_index = past.terminated_at
                if not self._rewound:
                    return self._outcome(tree, past.terminated_at)
                with self._as_of(past.terminated_at):
                    return self._outcome(tree, past.terminated_at)
            status, _, _ = self.history.evaluate(tree, self.task.as_of)
            if status != kernel.ONGOING:
                break
            if past is None:
                self.new_steps.append(Step(position, signature, _tree_json(tree)))
            if self.live is None:
                raise _Suspend()
            self.live.suspend()  # returns once `load` gave it the next task's history
        if past is not None and not self.resumed and self.task.properties:
            # the method resumes here: the instance takes the properties as they are now,
            # with whatever other method runs did meanwhile
            self._restore(self.task.properties)
        self.resumed = True
        self.now_index = self.task.as_of
        snapshot = self.snapshot()
        digest = props_hash(snapshot)
        self.props_store[digest] = snapshot
        self.new_steps.append(Step(position, signature, _tree_json(tree), self.task.as_of, digest))
        return self._outcome(tree, self.task.as_of)

    def deferred_status(self, deferred: Pending) -> str:
        tree = deferred._leaf
        if tree[0] == "r":
            tree = self._receive_tree(deferred)
        if not self._rewound:
            status, _, _ = self.history.evaluate(tree, self.now_index)
        else:
            with self._as_of(self.now_index):
                status, _, _ = self.history.evaluate(tree, self.now_index)
        return kernel.STATUS_NAMES[status]

    @contextmanager
    def _as_of(self, as_of: int) -> Iterator[None]:
        """Within it, the history shows each retried command with the outcome it had at event
        `as_of`: a step that saw a failure the workflow caught replays it, though a retry of
        the task has completed since."""
        history, commands = kernel.History(), list(self.commands)
        for index, command in enumerate(self.commands):
            if index in self._rewound and not 0 <= command.completed_at <= as_of:
                then = [o for o in self._rewound[index] if 0 <= o[1] <= as_of]
                if then:
                    status, at, error = then[-1]
                    command = dataclasses.replace(
                        command, status=status, completed_at=at, error=error, result=b""
                    )
                    commands[index] = command
            history.add(
                command.kind,
                _target(command),
                command.args_hash,
                _STATUS[command.status],
                command.completed_at,
                list(self.history.signal_at[index]) if command.kind == "receive" else [],
            )
        saved = self.history, self.commands
        self.history, self.commands = history, commands
        try:
            yield
        finally:
            self.history, self.commands = saved

    def _outcome(self, tree: Any, as_of: int) -> Any:
        status, leaf, _ = self.history.evaluate(tree, as_of)
        if status == kernel.COMPLETED:
            return self._node_value(tree, as_of)
        raise self._error(status, leaf)

    def _node_value(self, node: Any, as_of: int) -> Any:
        tag = node[0]
        if tag == "all":
            return [self._node_value(child, as_of) for child in node[1]]
        if tag == "any":
            return self._node_value(self.history.evaluate(node, as_of)[1], as_of)
        index = node[1]
        command = self.commands[index]
        if tag == "r":
            raw = self._receive_values[index][node[2]]
        elif command.kind == "timer":
            return datetime.fromtimestamp(command.due_at, tz=timezone.utc)
        elif not command.result:
            return None
        else:
            raw = orjson.loads(command.result)
        tp = self.result_types.get(index, Any)
        return serialization.convert(raw, tp, f"the result of {_target(command)}")

    def _error(self, status: int, leaf: Any) -> Exception:
        command = self.commands[leaf[1]]
        error = command.error or ErrorInfo(
            "", "infinitic.errors.UnknownWorkflowError", "unknown", ""
        )
        target = _target(command)
        child = command.kind in ("workflow", "method")
        names: dict[str, Any] = (
            {"workflow_name": command.name, "workflow_id": command.target_id or command.command_id}
            if child
            else {}
        )
        if status == kernel.CANCELED:
            return errors.CanceledError(f"{target} ({command.command_id}) was canceled", **names)
        if status == kernel.TIMED_OUT:
            return errors.TimeoutError(f"{target} ({command.command_id}) timed out")
        if status == kernel.UNKNOWN:
            return errors.UnknownWorkflowError(
                f"{target}: no such workflow {command.target_id or command.command_id}", **names
            )
        if command.kind == "task":
            return errors.TaskFailedError(command.name, command.method, command.command_id, error)
        return errors.WorkflowFailedError(
            f"{target} ({command.command_id}) failed: {error.name}: {error.message}",
            last_error=error,
            method_name=command.method,
            **names,
        )

    # -- properties -------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        data = {k: v for k, v in vars(self.instance).items() if _is_property(v)}
        for key, value in data.items():
            if _holds_deferred(value):
                raise errors.SerializationError(
                    f"workflow {self.task.workflow_name}: property {key!r} holds a Deferred; a "
                    "Deferred cannot be kept as a property (keep its result, or await it "
                    "in the method that dispatched it)"
                )
        try:
            return orjson.dumps(
                data,
                default=serialization._default,
                option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
            )
        except TypeError as exc:
            raise errors.SerializationError(
                f"workflow {self.task.workflow_name}: a property cannot be serialized: {exc}"
            ) from None

    def _restore(self, data: bytes) -> None:
        values = orjson.loads(data)
        current = vars(self.instance)
        for key in [k for k, v in current.items() if _is_property(v) and k not in values]:
            del current[key]
        for key, raw in values.items():
            current[key] = serialization.convert(raw, self.hints.get(key, Any), f"property {key}")

    # -- entry point ------------------------------------------------------------------------

    def execute(self, method: Callable[..., Any], args: list[Any]) -> tuple[str, Any]:
        """('completed', value) | ('waiting', None); raises what the method raised."""
        start = self.run.props_at_start
        initial = self.task.props_store[start] if start else self.task.properties
        if initial:
            self._restore(initial)
        token = enter(self)
        try:
            value = method(*args)
            if aio.is_coroutine(value):  # an `async def` method: its awaits are steps too
                self.in_coroutine = True
                value = aio.run_coroutine(value)
        except _Suspend:
            return "waiting", None
        finally:
            leave(token)
        return "completed", value

    # -- used by the workflow API -----------------------------------------------------------

    def value_of(self, index: int) -> Any:
        return self._node_value(("c", index), self.now_index)

    def receive(self, channel: str, limit: int, criteria: dict[str, Any], value_type: Any) -> int:
        """`limit` 0: no limit."""
        filter_bytes = orjson.dumps(criteria, option=orjson.OPT_SORT_KEYS) if criteria else b""
        return self.command(
            "receive",
            channel,
            "",
            filter_bytes,
            value_type,
            limit=limit,
            filter=filter_bytes,
        )

    def _receive_tree(self, deferred: Pending) -> Any:
        """The step of the next signal of a receive: after its limit, its last signal again."""
        index = deferred._leaf[1]
        limit = self.commands[index].limit
        nth = deferred._receives if not limit else min(deferred._receives, limit - 1)
        return ("r", index, nth)

    def send_signal_to_self(self, channel: str, value_type: Any, value: Any) -> None:
        payload = serialization.dumps(
            value,
            f"the signal sent to channel {channel}",
            self.max_payload_bytes,
            declared=value_type,
        )
        index = self.command(
            "signal",
            self.task.workflow_name,
            channel,
            payload,
            target_id=self.task.workflow_id,
        )
        self.complete_now(index, b"null")

    def timer_at(self, due_at: float) -> int:
        # what the user wrote is the instant: it is the argument checked by `strict`
        return self.command("timer", "", "", orjson.dumps(due_at), datetime, due_at=due_at)

    def timer_for(self, delta: timedelta) -> int:
        # what the user wrote is the duration: it is the argument checked by `strict`; the due
        # time depends on when the workflow task that first reached the timer ran, so it is
        # kept in the recorded command (a replay reads it there, never computes it again)
        seconds = delta.total_seconds()
        return self.command(
            "timer",
            "",
            "",
            orjson.dumps({"duration": seconds}),
            datetime,
            due_at=self.task.emitted_at + seconds,
        )


def _previous_outcomes(command: Command) -> list[tuple[CommandStatus, int, ErrorInfo | None]]:
    outcomes = []
    for status, at, error in orjson.loads(command.meta[PREVIOUS_OUTCOMES_META]):
        info = messages.decode(bytes.fromhex(error)) if error else None
        # written by the engine from a command's status (handlers/client_commands.py)
        recorded = typing.cast(CommandStatus, str(status))
        outcomes.append((recorded, int(at), info if isinstance(info, ErrorInfo) else None))
    return outcomes


def _target_of(kind: str, name: str, method: str) -> str:
    return f"{name}.{method}" if method else (name or kind)


def _target(command: Command) -> str:
    return _target_of(command.kind, command.name, command.method)


def _tree_json(tree: Any) -> bytes:
    return orjson.dumps(tree)


def _is_property(value: Any) -> bool:
    # stubs are callables' holders and never properties
    return not (callable(value) or is_stub(value))


def _holds_deferred(value: Any) -> bool:
    if isinstance(value, Deferred):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(isinstance(item, Deferred) for item in value)
    if isinstance(value, dict):
        return any(isinstance(item, Deferred) for item in value.values())
    return False


_HINTS: dict[type, dict[str, Any]] = {}


def _property_hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        try:
            hints = typing.get_type_hints(cls)
        except Exception:  # noqa: BLE001 - unresolvable annotations: plain JSON values
            hints = {}
        _HINTS[cls] = hints
    return hints
