"""What `describe_workflow` and `list_workflows` return, built from a stored state or index.

Arguments, results and signals are the JSON values as stored (dicts, lists, str, numbers):
`describe_workflow` may run where the workflow's classes are not importable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

from ..common import workflow_messages as w
from ..common.history import history_of
from ..common.messages import ErrorInfo
from ..storage.base import Storage
from ..storage.index import IndexEntry, IndexQuery
from ..storage.workflow_state import read_state, state_key

__all__ = [
    "CommandInfo",
    "MethodRunInfo",
    "WorkflowInfo",
    "WorkflowPage",
    "WorkflowStatus",
    "WorkflowSummary",
    "describe_in",
    "list_in",
    "workflow_info",
    "workflow_summary",
]


class WorkflowStatus(str, enum.Enum):
    """The status of a workflow instance (its main method run's, once every run has ended).

    A failed instance is kept, and can be retried or canceled, until one of them ends it.
    """

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class CommandInfo:
    """One command of a method run, in the order the workflow issued them.

    `kind`: task, workflow (a child), method (on another instance), timer, receive, signal,
    inline. `target`: ``Service.method``, ``Workflow.method``, the channel, or "" (timers,
    inline). `id`: the task, child workflow or timer id. `status`: ongoing, completed, failed,
    canceled, timed_out, unknown. `retries`: how many times `retry_tasks` re-ran it (then
    `dispatched_at` is the last time). `dispatched_at` / `completed_at`: when the engine
    recorded the command and its outcome (None: not yet, or a state saved before this release);
    `due_at`: when a timer is (or was) due.
    """

    position: int
    kind: str
    target: str
    id: str
    status: str
    args: Any = None
    result: Any = None
    error: ErrorInfo | None = None
    retries: int = 0
    dispatched_at: datetime | None = None
    completed_at: datetime | None = None
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MethodRunInfo:
    """One method run: the main one has the workflow's id; others are methods dispatched on the
    running instance."""

    id: str
    method: str
    status: WorkflowStatus
    args: list[Any]
    result: Any = None
    error: ErrorInfo | None = None
    started_at: datetime | None = None
    parent_workflow_id: str | None = None
    parent_workflow_name: str | None = None
    commands: list[CommandInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    """A workflow instance as stored: `describe_workflow`'s answer (times in UTC)."""

    id: str
    name: str
    status: WorkflowStatus
    tags: frozenset[str]
    meta: dict[str, bytes]
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None  # None while running, and while failed (it may be retried)
    method_runs: list[MethodRunInfo]
    # the implementation's version (the `_N` suffix of its class name) the instance runs
    version: int = 0
    _history: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def history(self) -> dict[str, Any]:
        """The instance's history, the versioned JSON document `infinitic.testing.replay`
        takes (docs/testing.md): save it next to your tests, replay it on new code."""
        return self._history

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (meta values as text when UTF-8, else as lists of byte values),
        with the history under "history" (so `replay` takes the file as it is)."""
        data: dict[str, Any] = _jsonable(self)
        data.pop("_history", None)
        # (an error's detail fields may be bytes: made text here; replay reads the base fields)
        data["history"] = _jsonable(self._history)
        return data


@dataclass(frozen=True, slots=True)
class WorkflowSummary:
    """One instance of a `list_workflows` page (read from the index, not the state)."""

    id: str
    name: str
    status: WorkflowStatus
    tags: frozenset[str]
    started_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return _jsonable(self)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class WorkflowPage:
    """A page of `list_workflows`, newest first; pass `next_cursor` back for the next one
    (None: this is the last)."""

    items: list[WorkflowSummary]
    next_cursor: str | None


def _time(seconds: float) -> datetime | None:
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds > 0 else None


def _json(raw: bytes) -> Any:
    return orjson.loads(raw) if raw else None


def _target(cmd: w.Command) -> str:
    if cmd.kind in ("task", "workflow", "method"):
        return f"{cmd.name}.{cmd.method}"
    return cmd.name


def _command(cmd: w.Command) -> CommandInfo:
    ident = cmd.target_id if cmd.kind in ("workflow", "method") and cmd.target_id else None
    dispatched, completed = w.command_times(cmd)
    return CommandInfo(
        position=cmd.position,
        kind=cmd.kind,
        target=_target(cmd),
        id=ident or cmd.command_id,
        status=cmd.status,
        args=_json(cmd.args),
        result=_json(cmd.result),
        error=cmd.error,
        retries=cmd.retry_sequence,
        due_at=_time(cmd.due_at) if cmd.kind == "timer" else None,
        dispatched_at=_time(dispatched),
        completed_at=_time(completed) if cmd.status != "ongoing" else None,
    )


def _run(run: w.MethodRun) -> MethodRunInfo:
    return MethodRunInfo(
        id=run.method_run_id,
        method=run.method_name,
        status=WorkflowStatus(run.status),
        args=_json(run.args) or [],
        result=_json(run.result),
        error=run.error,
        started_at=_time(run.created_at),
        parent_workflow_id=run.parent_workflow_id,
        parent_workflow_name=run.parent_workflow_name,
        commands=[_command(cmd) for cmd in run.commands],
    )


def workflow_info(state: w.WorkflowState) -> WorkflowInfo:
    runs = sorted(state.method_runs, key=lambda r: r.method_run_id != state.workflow_id)
    # a failed instance has not ended: it waits for a retry or a cancel (DESIGN §3)
    ended = state.status in ("completed", "canceled")
    return WorkflowInfo(
        id=state.workflow_id,
        name=state.workflow_name,
        status=WorkflowStatus(state.status),
        tags=state.tags,
        # the engine's reserved keys (infinitic.*) are not the caller's meta
        meta={k: v for k, v in state.meta.items() if not k.startswith("infinitic.")},
        started_at=_time(state.created_at) or datetime.fromtimestamp(0, timezone.utc),
        updated_at=_time(state.updated_at) or datetime.fromtimestamp(0, timezone.utc),
        ended_at=_time(state.updated_at) if ended else None,
        method_runs=[_run(run) for run in runs],
        version=_version(state.meta.get(w.VERSION_META)),
        _history=history_of(state),
    )


def _version(raw: bytes | None) -> int:
    try:
        return int(raw) if raw else 0
    except ValueError:
        return 0


def workflow_summary(entry: IndexEntry) -> WorkflowSummary:
    epoch = datetime.fromtimestamp(0, timezone.utc)
    return WorkflowSummary(
        id=entry.id,
        name=entry.name,
        status=WorkflowStatus(entry.status),
        tags=entry.tags,
        started_at=_time(entry.started_at) or epoch,
        updated_at=_time(entry.updated_at) or epoch,
    )


async def describe_in(storage: Storage, name: str, workflow_id: str) -> WorkflowInfo | None:
    """`describe_workflow` on a started storage (the client's, or the CLI's own)."""
    loaded = await read_state(storage, state_key(name, workflow_id))
    return None if loaded is None else workflow_info(loaded[0])


async def list_in(storage: Storage, query: IndexQuery) -> WorkflowPage:
    """`list_workflows` on a started storage."""
    page = await storage.list_index(query)
    return WorkflowPage([workflow_summary(e) for e in page.entries], page.next_cursor)


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (frozenset, set)):
        return sorted(value)
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return list(value)
    if isinstance(value, ErrorInfo):
        return {
            "worker_name": value.worker_name,
            "name": value.name,
            "message": value.message,
            "stack_trace": value.stack_trace,
            "cause": _jsonable(value.cause),
        }
    if hasattr(value, "__dataclass_fields__"):
        return {name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
