"""Every message that travels between clients, engines and executors.

Each class is a slotted dataclass whose field order is its wire order: the envelope codec
(`infinitic._core.envelope`) encodes the fields positionally, by the kinds listed in
`MESSAGE_TYPES`. Adding a field is a new envelope format version (see docs/envelope.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .._core import envelope
from ..errors import ErrorInfo as ErrorInfo  # defined with the errors that carry it
from .workflow_messages import WORKFLOW_TYPES

# Field kinds understood by the envelope codec (docs/envelope.md):
#   s str, S optional str, b bytes, i int (signed 64-bit), f float,
#   t frozenset[str] (tags), m dict[str, bytes] (meta), n optional nested message,
#   L list[str], N list of nested messages


@dataclass(slots=True)
class DetailedErrorInfo(ErrorInfo):
    """An ErrorInfo that also carries the remote exception's public attributes and the previous
    attempt's failure. Its own envelope type, so plain ErrorInfo keeps its bytes."""

    properties: bytes = b""  # JSON object: attribute name -> JSON value
    previous: ErrorInfo | None = None

    def get_custom_property(self, name: str) -> Any:
        if not self.properties:
            return None
        return orjson.loads(self.properties).get(name)

    @property
    def previous_error(self) -> ErrorInfo | None:
        return self.previous


@dataclass(slots=True)
class ExecuteTask:
    """Run `service_name.task_name(*args)`; sent by clients and workflows, and by executors to retry."""

    message_id: str
    task_id: str
    service_name: str
    task_name: str
    args: bytes  # JSON array
    tags: frozenset[str] = frozenset()
    meta: dict[str, bytes] = field(default_factory=dict)
    retry_index: int = 0
    retry_sequence: int = 0
    last_error: ErrorInfo | None = None
    reply_to: str | None = None  # the client's response topic, when a client waits
    workflow_id: str | None = None
    workflow_name: str | None = None
    method_run_id: str | None = None
    emitted_at: float = 0.0


@dataclass(slots=True)
class TaskCompleted:
    """A task returned `result` (JSON)."""

    message_id: str
    task_id: str
    service_name: str
    task_name: str
    result: bytes
    meta: dict[str, bytes] = field(default_factory=dict)
    reply_to: str | None = None
    workflow_id: str | None = None
    workflow_name: str | None = None
    method_run_id: str | None = None
    emitted_at: float = 0.0


@dataclass(slots=True)
class TaskFailed:
    """A task failed for good (retries exhausted, ignored exception, or unrunnable)."""

    message_id: str
    task_id: str
    service_name: str
    task_name: str
    error: ErrorInfo
    meta: dict[str, bytes] = field(default_factory=dict)
    reply_to: str | None = None
    workflow_id: str | None = None
    workflow_name: str | None = None
    method_run_id: str | None = None
    emitted_at: float = 0.0


Message = ExecuteTask | TaskCompleted | TaskFailed

# A task result names the manual retry (`client.retry_tasks`) it answers under this key of its
# meta, so a late copy of an earlier attempt's result is told apart; the names of task meta
# starting with "infinitic." are reserved. (Format version 1 of the envelope is frozen: a field
# would need a new type id.)
RETRY_SEQUENCE_META = "infinitic.retrySequence"


def reply_meta(meta: dict[str, bytes], retry_sequence: int) -> dict[str, bytes]:
    """The meta of a task's result: the task's, naming the manual retry it answers (ours to
    set: a task's own entry under the reserved name would mislead the engine)."""
    if not retry_sequence and RETRY_SEQUENCE_META not in meta:
        return meta
    meta = {k: v for k, v in meta.items() if k != RETRY_SEQUENCE_META}
    if retry_sequence:
        meta[RETRY_SEQUENCE_META] = str(retry_sequence).encode()
    return meta


def result_retry_sequence(result: TaskCompleted | TaskFailed) -> int:
    """The manual retry a task result answers (0: the first run)."""
    raw = result.meta.get(RETRY_SEQUENCE_META)
    try:
        return int(raw) if raw else 0
    except ValueError:
        return -1  # not one of ours: matches no retry


_ROUTING = (
    ("reply_to", "S"),
    ("workflow_id", "S"),
    ("workflow_name", "S"),
    ("method_run_id", "S"),
    ("emitted_at", "f"),
)
_TASK_IDS = (("message_id", "s"), ("task_id", "s"), ("service_name", "s"), ("task_name", "s"))

# (type id, class, fields). Type ids are forever: never reuse or renumber one.
MESSAGE_TYPES: tuple[tuple[int, type, tuple[tuple[str, str], ...]], ...] = (
    (
        1,
        ErrorInfo,
        (
            ("worker_name", "s"),
            ("name", "s"),
            ("message", "s"),
            ("stack_trace", "s"),
            ("cause", "n"),
        ),
    ),
    (
        2,
        ExecuteTask,
        _TASK_IDS
        + (
            ("args", "b"),
            ("tags", "t"),
            ("meta", "m"),
            ("retry_index", "i"),
            ("retry_sequence", "i"),
            ("last_error", "n"),
        )
        + _ROUTING,
    ),
    (3, TaskCompleted, _TASK_IDS + (("result", "b"), ("meta", "m")) + _ROUTING),
    (4, TaskFailed, _TASK_IDS + (("error", "n"), ("meta", "m")) + _ROUTING),
    (
        5,
        DetailedErrorInfo,
        (
            ("worker_name", "s"),
            ("name", "s"),
            ("message", "s"),
            ("stack_trace", "s"),
            ("cause", "n"),
            ("properties", "b"),
            ("previous", "n"),
        ),
    ),
)

ALL_TYPES = MESSAGE_TYPES + WORKFLOW_TYPES
CODEC = envelope.Codec(ALL_TYPES)
encode = CODEC.encode
decode = CODEC.decode
