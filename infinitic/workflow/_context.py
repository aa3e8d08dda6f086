"""The seam between the workflow API and the runtime that replays it.

The API (`Workflow`, stubs, `Deferred`, channels) records commands and awaits steps through the
run bound to the current context, `current_run()`; the runtime (`executors/workflow_run.py`)
makes it the current run while a method runs (`enter` / `leave`) and does the recording and the replay. The API sees only
`WorkflowRuntime`, so this package never imports its runtime: it hands it plain data (command
fields, the step a Deferred stands for) and gets back command indices and values.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from datetime import timedelta
from typing import Any, Protocol

from ..common.workflow_messages import Command, CommandKind, ExecuteWorkflowTask, MethodRun


class Pending(Protocol):
    """What the runtime reads of a Deferred: the step tree it stands for and, for a channel
    receive, how many of its signals were awaited already (the runtime counts them)."""

    _leaf: Any
    _receives: int


class WorkflowRuntime(Protocol):
    """One method run being replayed, as the workflow API sees it."""

    task: ExecuteWorkflowTask  # the workflow task being run
    run: MethodRun  # the method run it replays
    commands: list[Command]  # past and new commands, by index
    inline_depth: int  # > 0 while an inline step runs: no commands, no awaits there
    in_coroutine: bool  # running an `async def` method
    now_index: int  # the event index the run is at
    max_payload_bytes: int  # the largest payload it records (the worker's maxPayloadBytes)

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
        ...

    def complete_now(self, index: int, result: bytes) -> None:
        """A command that completes as it is created (inline, signal sent)."""
        ...

    def value_of(self, index: int) -> Any:
        """The value command `index` completed with, typed as its result type."""
        ...

    def await_deferred(self, deferred: Pending) -> Any:
        """The step of `deferred`: its value, or the failure it raises; suspends the run while
        it is not decided."""
        ...

    def deferred_status(self, deferred: Pending) -> str:
        """The status name of `deferred` now (a DeferredStatus value)."""
        ...

    def receive(self, channel: str, limit: int, criteria: dict[str, Any], value_type: Any) -> int:
        """Records a receive on `channel` (`limit` 0: no limit); returns its command index."""
        ...

    def send_signal_to_self(self, channel: str, value_type: Any, value: Any) -> None: ...

    def timer_at(self, due_at: float) -> int:
        """Records a timer due at `due_at` (epoch seconds); returns its command index."""
        ...

    def timer_for(self, delta: timedelta) -> int:
        """Records a timer due `delta` after the task that first reached it; its index."""
        ...


_CURRENT: ContextVar[WorkflowRuntime | None] = ContextVar("infinitic_workflow_run", default=None)


def current_run() -> WorkflowRuntime:
    """The method run the calling workflow code belongs to."""
    run = _CURRENT.get()
    if run is None:
        raise RuntimeError(
            "this can only be used inside a workflow method run by an infinitic worker "
            "(dispatch, timers, channels and stubs are commands recorded by the replay)"
        )
    return run


def enter(run: WorkflowRuntime) -> Token[WorkflowRuntime | None]:
    """Makes `run` the current run, until `leave` with the token this returns (a pair of calls
    rather than a context manager: it wraps every workflow task)."""
    return _CURRENT.set(run)


def leave(token: Token[WorkflowRuntime | None]) -> None:
    _CURRENT.reset(token)
