"""Messages and state records of workflows (engine, workflow-task executor, tag engine, client).

Slotted dataclasses whose field order is their wire order; the kinds are in `WORKFLOW_TYPES`
(see messages.py for the kind letters; `N` is a list of nested messages, `L` a list of str).
Empty bytes stand for "no value" in bytes fields (no valid JSON payload is empty), -1 for "not
yet" in event indexes, 0.0 for "none" in times.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ErrorInfo

# the workflow meta entry recording the version (`_N` class-name suffix) an instance runs; its
# first workflow task reports it in `WorkflowTaskCompleted.props_store` under the same name
# (names starting with "infinitic." are reserved)
VERSION_META = "infinitic.workflowVersion"
# the command meta entry keeping a task's earlier outcomes when it is retried after the workflow
# caught its failure and went on: JSON [[status, completed_at, error envelope hex], ...], so
# replays of the steps that saw those outcomes still see them (never sent with the task)
PREVIOUS_OUTCOMES_META = "infinitic.previousOutcomes"


# The values of the messages' enumerated fields. The envelope carries them as strings (a value
# from a newer release decodes as that string): the engines only compare them.
CommandKind = Literal["task", "workflow", "method", "timer", "receive", "signal", "inline"]
# a command's outcome, by _core.replay's STATUS_NAMES
CommandStatus = Literal["ongoing", "unknown", "canceled", "failed", "timed_out", "completed"]
RunStatus = Literal["running", "completed", "failed", "canceled"]  # a method run, an instance
OutcomeStatus = Literal["completed", "failed", "canceled", "unknown"]  # a method run's end
TaskOutcome = Literal["waiting", "completed", "failed", "updated"]  # a workflow task's
TagAction = Literal["add", "remove", "signal", "cancel", "ids", "complete_timers", "dispatch"]
ServiceTagAction = Literal["add", "remove", "ids"]


@dataclass(slots=True)
class Command:
    """A command of a method run: what the workflow asked for, and what became of it."""

    command_id: str
    position: int
    kind: CommandKind
    name: str  # service / workflow name, channel name ("" for timers and inline)
    method: str  # task or method name ("" otherwise)
    args: bytes = b""  # JSON array for task/workflow/method, JSON value for signal/inline
    args_hash: str = ""
    tags: frozenset[str] = frozenset()
    meta: dict[str, bytes] = field(default_factory=dict)
    target_id: str | None = None  # method/signal on an existing workflow: its id
    target_tag: str | None = None  # ... or its tag
    status: CommandStatus = "ongoing"
    result: bytes = b""  # JSON; for receive: JSON array of [event index, signal] pairs
    error: ErrorInfo | None = None
    completed_at: int = -1  # event index when it reached its status
    due_at: float = 0.0  # timers: when it fires
    deadline: float = 0.0  # global timeout: when it times out (0: never)
    limit: int = 1  # receive: how many signals it takes (0: no limit)
    filter: bytes = b""  # receive: JSON object of path -> value
    retry_sequence: int = 0  # tasks: manual retries (client.retry_tasks)


# When a command was dispatched and reached its status (seconds since the epoch, 0.0: not yet),
# packed "<dd" under this reserved key of its meta (format version 1 is frozen: a field would
# need a new type id). The engine writes it, never forwards it to a task or a child's meta.
COMMAND_TIMES_META = "infinitic.times"
_TIMES = struct.Struct("<dd")


def command_times(cmd: Command) -> tuple[float, float]:
    """(dispatched_at, completed_at) of a command; 0.0 where not recorded."""
    raw = cmd.meta.get(COMMAND_TIMES_META)
    if raw is None or len(raw) != _TIMES.size:
        return 0.0, 0.0
    dispatched, completed = _TIMES.unpack(raw)
    return dispatched, completed


def set_command_times(cmd: Command, dispatched: float, completed: float) -> None:
    cmd.meta[COMMAND_TIMES_META] = _TIMES.pack(dispatched, completed)


def forwarded_meta(cmd: Command) -> dict[str, bytes]:
    """The command's meta as the task or child receives it (without the engine's own keys)."""
    meta = dict(cmd.meta)
    meta.pop(COMMAND_TIMES_META, None)
    meta.pop(PREVIOUS_OUTCOMES_META, None)
    return meta


@dataclass(slots=True)
class Step:
    """An await reached by a method run."""

    position: int
    signature: str  # _core.replay.step_signature of its tree
    tree: bytes  # JSON of the tree, so the engine can evaluate it
    terminated_at: int = -1
    props_hash: str = ""  # properties when the method run resumed after it


@dataclass(slots=True)
class MethodRun:
    """One call of a workflow method on an instance: its arguments, the commands it issued and
    the steps it awaited (its replay history), and its outcome once it ended."""

    method_run_id: str
    method_name: str
    args: bytes
    status: RunStatus = "running"
    result: bytes = b""
    error: ErrorInfo | None = None
    parent_workflow_id: str | None = None
    parent_workflow_name: str | None = None
    parent_method_run_id: str | None = None
    waiting_clients: list[str] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    props_at_start: str = ""
    start_index: int = -1
    created_at: float = 0.0


@dataclass(slots=True)
class WorkflowState:
    """Everything the engine keeps about one workflow instance: its method runs, properties,
    the workflow task in flight and the messages buffered while it runs."""

    workflow_id: str
    workflow_name: str
    tags: frozenset[str] = frozenset()
    meta: dict[str, bytes] = field(default_factory=dict)
    status: RunStatus = "running"
    properties: bytes = b""  # empty until a workflow task saved some
    props_store: dict[str, bytes] = field(default_factory=dict)
    method_runs: list[MethodRun] = field(default_factory=list)
    event_index: int = 0
    task_index: int = 0
    running_task_id: str | None = None
    running_method_run_id: str | None = None
    buffer: list[Any] = field(default_factory=list)  # messages that arrived during a workflow task
    created_at: float = 0.0
    updated_at: float = 0.0
    dispatch_id: str = ""  # message id of the DispatchWorkflow that started it


@dataclass(slots=True)
class StoredState:
    """What the engine stores for a state with long method runs: the state with those runs'
    commands and steps left out, and the keys of the segments that hold them (stored.py)."""

    state: WorkflowState
    segments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StateSegment:
    """Up to `stored.SEGMENT` consecutive commands or steps of one method run."""

    method_run_id: str
    kind: str  # commands | steps
    first: int  # index of its first item in the run's list
    items: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class OutboxItem:
    """A message a saved state owes: saved with the state, sent once the save succeeded."""

    topic: str
    message: bytes  # its envelope, sent as is; empty: the state's running workflow task
    key: str | None = None
    deliver_at: float = 0.0  # a delayed message: when it is due (epoch seconds); 0: at once


@dataclass(slots=True)
class SavedState:
    """What the engine stores under a state key (since type 27; 23 and 24 are still read).

    `segments` as in StoredState (empty for a state saved whole, its runs then inside `state`);
    `outbox` what the save that wrote it sends (cleared by the next save, not by a second
    write); `owner` the engine that wrote it, so a restart can tell whether it is still alive.
    """

    state: WorkflowState
    segments: list[str] = field(default_factory=list)
    outbox: list[OutboxItem] = field(default_factory=list)
    owner: str = ""


# -- to the workflow engine ----------------------------------------------------------------


@dataclass(slots=True)
class DispatchWorkflow:
    message_id: str
    workflow_id: str
    workflow_name: str
    method_name: str
    args: bytes
    tags: frozenset[str] = frozenset()
    meta: dict[str, bytes] = field(default_factory=dict)
    reply_to: str | None = None
    parent_workflow_id: str | None = None
    parent_workflow_name: str | None = None
    parent_method_run_id: str | None = None
    emitted_at: float = 0.0


@dataclass(slots=True)
class DispatchMethod:
    message_id: str
    workflow_id: str
    workflow_name: str
    method_run_id: str
    method_name: str
    args: bytes
    reply_to: str | None = None
    parent_workflow_id: str | None = None
    parent_workflow_name: str | None = None
    parent_method_run_id: str | None = None
    emitted_at: float = 0.0


@dataclass(slots=True)
class WaitWorkflow:
    message_id: str
    workflow_id: str
    workflow_name: str
    method_run_id: str | None
    reply_to: str
    emitted_at: float = 0.0


@dataclass(slots=True)
class CancelWorkflow:
    message_id: str
    workflow_id: str
    workflow_name: str
    reason: str = ""
    emitted_at: float = 0.0


@dataclass(slots=True)
class RetryWorkflowTask:
    message_id: str
    workflow_id: str
    workflow_name: str
    emitted_at: float = 0.0


@dataclass(slots=True)
class CompleteTimers:
    message_id: str
    workflow_id: str
    workflow_name: str
    emitted_at: float = 0.0


@dataclass(slots=True)
class RetryTasks:
    message_id: str
    workflow_id: str
    workflow_name: str
    task_id: str | None = None  # None: every failed or timed-out task
    emitted_at: float = 0.0


@dataclass(slots=True)
class CompleteMethodTimers:
    """`client.complete_timers(stub, method_run_id)`: the running timers of one method run
    (None: of every running method run)."""

    message_id: str
    workflow_id: str
    workflow_name: str
    method_run_id: str | None = None
    emitted_at: float = 0.0


@dataclass(slots=True)
class RetryTasksWhere:
    """`client.retry_tasks(stub, task_status=, task_id=, task_class=)`: each filter given must
    match (status: failed | timed_out; service_name: the task's service)."""

    message_id: str
    workflow_id: str
    workflow_name: str
    task_id: str | None = None
    task_status: str | None = None
    service_name: str | None = None
    emitted_at: float = 0.0


@dataclass(slots=True)
class SendSignal:
    message_id: str
    workflow_id: str
    workflow_name: str
    channel: str
    signal: bytes  # JSON
    emitted_at: float = 0.0


@dataclass(slots=True)
class TimerCompleted:
    message_id: str
    workflow_id: str
    workflow_name: str
    method_run_id: str
    command_id: str
    emitted_at: float = 0.0


@dataclass(slots=True)
class CommandTimedOut:
    message_id: str
    workflow_id: str
    workflow_name: str
    method_run_id: str
    command_id: str
    emitted_at: float = 0.0


@dataclass(slots=True)
class MethodOutcome:
    """A method run ended (or could not be found): to waiting clients and to the parent.

    status: completed | failed | canceled | unknown. For a parent, `parent_*` name the command
    (the child's method run id is the command id).
    """

    message_id: str
    workflow_id: str
    workflow_name: str
    method_run_id: str
    method_name: str
    status: OutcomeStatus
    result: bytes = b""
    error: ErrorInfo | None = None
    parent_workflow_id: str | None = None
    parent_workflow_name: str | None = None
    parent_method_run_id: str | None = None
    emitted_at: float = 0.0


@dataclass(slots=True)
class WorkflowTaskCompleted:
    message_id: str
    workflow_id: str
    workflow_name: str
    method_run_id: str
    workflow_task_id: str
    outcome: TaskOutcome  # updated: a non-deterministic change (the state is left untouched)
    new_commands: list[Command] = field(default_factory=list)
    new_steps: list[Step] = field(default_factory=list)
    properties: bytes = b""
    props_store: dict[str, bytes] = field(default_factory=dict)
    result: bytes = b""
    error: ErrorInfo | None = None
    emitted_at: float = 0.0


@dataclass(slots=True)
class ConfirmStart:
    """From a client, after a DispatchWorkflow on the same key: the engine answers `reply_to`
    (a TagIds whose request_id is this message id) once the start is stored."""

    message_id: str
    workflow_id: str
    workflow_name: str
    reply_to: str
    emitted_at: float = 0.0


# -- to the workflow-task executor ---------------------------------------------------------


@dataclass(slots=True)
class ExecuteWorkflowTask:
    """Engine to workflow-task executor: replay `method_run` as of event `as_of`, starting from
    the instance's `properties`."""

    message_id: str
    workflow_id: str
    workflow_name: str
    workflow_task_id: str
    method_run: MethodRun
    tags: frozenset[str] = frozenset()
    meta: dict[str, bytes] = field(default_factory=dict)
    properties: bytes = b""
    props_store: dict[str, bytes] = field(default_factory=dict)
    as_of: int = 0
    emitted_at: float = 0.0


# -- to the workflow tag engine ------------------------------------------------------------


@dataclass(slots=True)
class TagCommand:
    """To the tag engine of a workflow name, keyed by tag.

    action: add | remove (workflow_id), signal / cancel (fan out to every id of the tag),
    ids (reply_to gets the ids), complete_timers (`channel`: the method run, "" for all),
    dispatch (a method on every id: `channel` its name, `signal` its JSON arguments).
    """

    message_id: str
    workflow_name: str
    tag: str
    action: TagAction
    workflow_id: str | None = None
    channel: str = ""
    signal: bytes = b""
    reply_to: str | None = None
    emitted_at: float = 0.0


@dataclass(slots=True)
class TagIds:
    message_id: str
    workflow_name: str
    tag: str
    ids: list[str] = field(default_factory=list)
    request_id: str = ""
    emitted_at: float = 0.0


@dataclass(slots=True)
class ServiceTagCommand:
    """To the tag engine of a service, keyed by tag: add | remove (task_id), ids (reply_to)."""

    message_id: str
    service_name: str
    tag: str
    action: ServiceTagAction
    task_id: str | None = None
    reply_to: str | None = None
    emitted_at: float = 0.0


_ID = (("message_id", "s"),)
_WF = (("workflow_id", "s"), ("workflow_name", "s"))
_PARENT = (
    ("parent_workflow_id", "S"),
    ("parent_workflow_name", "S"),
    ("parent_method_run_id", "S"),
)
_AT = (("emitted_at", "f"),)

WORKFLOW_TYPES: tuple[tuple[int, type, tuple[tuple[str, str], ...]], ...] = (
    (
        20,
        Command,
        (
            ("command_id", "s"),
            ("position", "i"),
            ("kind", "s"),
            ("name", "s"),
            ("method", "s"),
            ("args", "b"),
            ("args_hash", "s"),
            ("tags", "t"),
            ("meta", "m"),
            ("target_id", "S"),
            ("target_tag", "S"),
            ("status", "s"),
            ("result", "b"),
            ("error", "n"),
            ("completed_at", "i"),
            ("due_at", "f"),
            ("deadline", "f"),
            ("limit", "i"),
            ("filter", "b"),
            ("retry_sequence", "i"),
        ),
    ),
    (
        21,
        Step,
        (
            ("position", "i"),
            ("signature", "s"),
            ("tree", "b"),
            ("terminated_at", "i"),
            ("props_hash", "s"),
        ),
    ),
    (
        22,
        MethodRun,
        (
            ("method_run_id", "s"),
            ("method_name", "s"),
            ("args", "b"),
            ("status", "s"),
            ("result", "b"),
            ("error", "n"),
        )
        + _PARENT
        + (
            ("waiting_clients", "L"),
            ("commands", "N"),
            ("steps", "N"),
            ("props_at_start", "s"),
            ("start_index", "i"),
            ("created_at", "f"),
        ),
    ),
    (
        23,
        WorkflowState,
        _WF
        + (
            ("tags", "t"),
            ("meta", "m"),
            ("status", "s"),
            ("properties", "b"),
            ("props_store", "m"),
            ("method_runs", "N"),
            ("event_index", "i"),
            ("task_index", "i"),
            ("running_task_id", "S"),
            ("running_method_run_id", "S"),
            ("buffer", "N"),
            ("created_at", "f"),
            ("updated_at", "f"),
            ("dispatch_id", "s"),
        ),
    ),
    (24, StoredState, (("state", "n"), ("segments", "L"))),
    (
        25,
        StateSegment,
        (("method_run_id", "s"), ("kind", "s"), ("first", "i"), ("items", "N")),
    ),
    (
        26,
        OutboxItem,
        (("topic", "s"), ("message", "b"), ("key", "S"), ("deliver_at", "f")),
    ),
    (
        27,
        SavedState,
        (("state", "n"), ("segments", "L"), ("outbox", "N"), ("owner", "s")),
    ),
    (
        30,
        DispatchWorkflow,
        _ID
        + _WF
        + (("method_name", "s"), ("args", "b"), ("tags", "t"), ("meta", "m"), ("reply_to", "S"))
        + _PARENT
        + _AT,
    ),
    (
        31,
        DispatchMethod,
        _ID
        + _WF
        + (("method_run_id", "s"), ("method_name", "s"), ("args", "b"), ("reply_to", "S"))
        + _PARENT
        + _AT,
    ),
    (32, WaitWorkflow, _ID + _WF + (("method_run_id", "S"), ("reply_to", "s")) + _AT),
    (33, CancelWorkflow, _ID + _WF + (("reason", "s"),) + _AT),
    (34, RetryWorkflowTask, _ID + _WF + _AT),
    (35, CompleteTimers, _ID + _WF + _AT),
    (36, RetryTasks, _ID + _WF + (("task_id", "S"),) + _AT),
    (37, SendSignal, _ID + _WF + (("channel", "s"), ("signal", "b")) + _AT),
    (38, TimerCompleted, _ID + _WF + (("method_run_id", "s"), ("command_id", "s")) + _AT),
    (39, CommandTimedOut, _ID + _WF + (("method_run_id", "s"), ("command_id", "s")) + _AT),
    (
        40,
        MethodOutcome,
        _ID
        + _WF
        + (
            ("method_run_id", "s"),
            ("method_name", "s"),
            ("status", "s"),
            ("result", "b"),
            ("error", "n"),
        )
        + _PARENT
        + _AT,
    ),
    (
        41,
        WorkflowTaskCompleted,
        _ID
        + _WF
        + (
            ("method_run_id", "s"),
            ("workflow_task_id", "s"),
            ("outcome", "s"),
            ("new_commands", "N"),
            ("new_steps", "N"),
            ("properties", "b"),
            ("props_store", "m"),
            ("result", "b"),
            ("error", "n"),
        )
        + _AT,
    ),
    (
        42,
        ExecuteWorkflowTask,
        _ID
        + _WF
        + (
            ("workflow_task_id", "s"),
            ("method_run", "n"),
            ("tags", "t"),
            ("meta", "m"),
            ("properties", "b"),
            ("props_store", "m"),
            ("as_of", "i"),
        )
        + _AT,
    ),
    (43, ConfirmStart, _ID + _WF + (("reply_to", "s"),) + _AT),
    (44, CompleteMethodTimers, _ID + _WF + (("method_run_id", "S"),) + _AT),
    (
        45,
        RetryTasksWhere,
        _ID + _WF + (("task_id", "S"), ("task_status", "S"), ("service_name", "S")) + _AT,
    ),
    (
        50,
        TagCommand,
        _ID
        + (
            ("workflow_name", "s"),
            ("tag", "s"),
            ("action", "s"),
            ("workflow_id", "S"),
            ("channel", "s"),
            ("signal", "b"),
            ("reply_to", "S"),
        )
        + _AT,
    ),
    (
        51,
        TagIds,
        _ID + (("workflow_name", "s"), ("tag", "s"), ("ids", "L"), ("request_id", "s")) + _AT,
    ),
    (
        52,
        ServiceTagCommand,
        _ID
        + (
            ("service_name", "s"),
            ("tag", "s"),
            ("action", "s"),
            ("task_id", "S"),
            ("reply_to", "S"),
        )
        + _AT,
    ),
)
