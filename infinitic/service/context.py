"""`infinitic.task`: what a running task knows about itself.

The context lives in a ContextVar that the executor sets only in the context that runs the
method (or its get_timeout_in_seconds / get_seconds_before_retry). Threads started by the task
begin with an empty context, so they cannot read it: Infinitic's "only on the thread that runs".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..common.messages import ErrorInfo
    from .policies import WithRetry, WithTimeout


# the task meta entry whose value groups tasks into batches (Infinitic's name)
BATCH_KEY_META = "batchKey"


@dataclass
class TaskContext:
    """Everything `infinitic.task` exposes; build one to inject it in tests."""

    task_id: str
    service_name: str
    task_name: str
    workflow_id: str | None = None
    workflow_name: str | None = None
    tags: frozenset[str] = frozenset()
    meta: dict[str, bytes] = field(default_factory=dict)
    retry_index: int = 0
    retry_sequence: int = 0
    last_error: ErrorInfo | None = None
    client: Any = None
    worker_name: str = ""
    with_retry: WithRetry | None = None  # the retry policy in force for this task
    with_timeout: WithTimeout | None = None  # its runtime timeout policy (None: none)
    # set by the executor when the runtime timeout strikes (`task.has_timed_out`), after which
    # the callbacks registered by `task.on_timeout(fn)` run
    has_timed_out: bool = False
    timeout_callbacks: list[Callable[[], Any]] = field(default_factory=list)

    @property
    def batch_key(self) -> str | None:
        """The task meta `batchKey`: tasks of one batch all have the same (or none)."""
        raw = self.meta.get(BATCH_KEY_META)
        return None if raw is None else raw.decode("utf-8", "replace")


_CURRENT: ContextVar[TaskContext | None] = ContextVar("infinitic_task_context", default=None)
# while a @batch method runs: the context of each task of the batch, by task id
_BATCH: ContextVar[dict[str, TaskContext] | None] = ContextVar("infinitic_batch", default=None)


class _Task:
    """The `task` object: attribute access reads the running task's context."""

    __slots__ = ()

    def get_context(self, task_id: str | None = None) -> TaskContext:
        """The running task's context; in a `@batch` method, that of the batch's task
        `task_id`."""
        batch = _BATCH.get()
        if task_id is not None and batch is not None:
            try:
                return batch[task_id]
            except KeyError:
                raise KeyError(f"task {task_id!r} is not in this batch") from None
        ctx = _CURRENT.get()
        if task_id is not None and ctx is not None and ctx.task_id != task_id:
            raise KeyError(f"task {task_id!r} is not the running task ({ctx.task_id})")
        if ctx is None and batch is not None:
            raise RuntimeError(
                "a @batch method runs several tasks: read each one's with task.get_context(task_id)"
            )
        if ctx is None:
            raise RuntimeError(
                "infinitic.task is only readable while a task runs, on the thread that runs it "
                "(or in get_timeout_in_seconds / get_seconds_before_retry); "
                "in tests, inject one with task.set_context(TaskContext(...))"
            )
        return ctx

    def set_context(self, context: TaskContext | None) -> Token[TaskContext | None]:
        """Sets the context of the current thread/task (for tests); returns a reset token."""
        return _CURRENT.set(context)

    def reset_context(self, token: Token[TaskContext | None]) -> None:
        _CURRENT.reset(token)

    @contextmanager
    def use_context(self, context: TaskContext) -> Iterator[TaskContext]:
        token = _CURRENT.set(context)
        try:
            yield context
        finally:
            _CURRENT.reset(token)

    @property
    def is_running(self) -> bool:
        return _CURRENT.get() is not None

    @property
    def task_id(self) -> str:
        return self.get_context().task_id

    @property
    def service_name(self) -> str:
        return self.get_context().service_name

    @property
    def task_name(self) -> str:
        return self.get_context().task_name

    @property
    def workflow_id(self) -> str | None:
        return self.get_context().workflow_id

    @property
    def workflow_name(self) -> str | None:
        return self.get_context().workflow_name

    @property
    def tags(self) -> frozenset[str]:
        return self.get_context().tags

    @property
    def meta(self) -> dict[str, bytes]:
        return self.get_context().meta

    @property
    def retry_index(self) -> int:
        return self.get_context().retry_index

    @property
    def retry_sequence(self) -> int:
        return self.get_context().retry_sequence

    @property
    def last_error(self) -> ErrorInfo | None:
        return self.get_context().last_error

    @property
    def client(self) -> Any:
        return self.get_context().client

    @property
    def worker_name(self) -> str:
        return self.get_context().worker_name

    @property
    def with_retry(self) -> WithRetry | None:
        """The retry policy in force for this task (`get_seconds_before_retry`)."""
        return self.get_context().with_retry

    @property
    def with_timeout(self) -> WithTimeout | None:
        """The runtime timeout policy in force for this task (`get_timeout_in_seconds`)."""
        return self.get_context().with_timeout

    @property
    def has_timed_out(self) -> bool:
        """True once the task's runtime timeout struck: a task still running (during the grace
        period) should stop; its result will be ignored."""
        return self.get_context().has_timed_out

    def on_timeout(self, fn: Callable[[], Any]) -> None:
        """Registers `fn()`, called (on another thread) when the runtime timeout strikes."""
        if not callable(fn):
            raise TypeError(f"task.on_timeout needs a callable, got {fn!r}")
        self.get_context().timeout_callbacks.append(fn)


task = _Task()
