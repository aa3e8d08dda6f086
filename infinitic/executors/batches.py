"""Batch tasks: the tasks of a method that has a `@batch` method, run together.

A batch holds the tasks of one method and one batch key (task meta `batchKey`), up to
`max_messages` of them, or those that came within `max_seconds` of its first. Each task's
message handler waits for its batch to have run, so a message is acknowledged only once its
task is done, as without batches. The batch method gets `{task_id: args}` (the argument itself
for a one-parameter task, else an object whose attributes are the parameters) and returns
`{task_id: result}` (None for tasks that return nothing); an exception fails (or retries) every
task of the batch.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..common import messages as m
from ..common import serialization
from ..common.spec import BATCH_ATTR, EntitySpec, MethodSpec
from ..service.context import _BATCH, BATCH_KEY_META, TaskContext
from .threads import TaskThreads


@dataclass(frozen=True)
class Batching:
    """A service's `batch:` config."""

    max_messages: int
    max_seconds: float


def batch_methods(implementation: type, spec: EntitySpec) -> dict[str, str]:
    """Task attribute -> the attribute of its `@batch` method, checked against the tasks."""
    found: dict[str, str] = {}
    for attribute, value in inspect.getmembers(implementation, inspect.isfunction):
        target = getattr(value, BATCH_ATTR, None)
        if target is None:
            continue
        if target not in spec.by_attribute:
            raise TypeError(
                f"{implementation.__qualname__}.{attribute}: @batch({target!r}) names no task "
                f"of {spec.name} (its tasks: {sorted(spec.by_attribute)})"
            )
        if target in found:
            raise TypeError(
                f"{implementation.__qualname__}: two @batch methods for {target!r}: "
                f"{found[target]} and {attribute}"
            )
        found[target] = attribute
    return found


# what a batch reports for each of its tasks: its result, or the exception that failed it
Outcome = tuple[m.ExecuteTask, TaskContext, Any, BaseException | None]


@dataclass
class _Item:
    msg: m.ExecuteTask
    ctx: TaskContext
    args: list[Any]
    done: asyncio.Future[None]


@dataclass
class _Pending:
    items: list[_Item] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class Batcher:
    """The batches of one task method of one executor."""

    def __init__(
        self,
        instance: object,
        method: MethodSpec,
        batch_attribute: str,
        batching: Batching,
        threads: TaskThreads,
        report: Callable[[Outcome], Awaitable[None]],
        *,
        max_payload_bytes: int = serialization.DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self._max_payload_bytes = max_payload_bytes
        self._fn: Callable[..., Any] = getattr(instance, batch_attribute)
        self._method = method
        self._batching = batching
        self._threads = threads
        self._report = report
        self._pending: dict[str | None, _Pending] = {}
        self._value_type = _value_type(self._fn)

    async def add(self, msg: m.ExecuteTask, ctx: TaskContext, args: list[Any]) -> None:
        """Adds the task to its batch and returns once the batch ran and its outcome is sent."""
        loop = asyncio.get_running_loop()
        item = _Item(msg, ctx, args, loop.create_future())
        key = ctx.batch_key if BATCH_KEY_META in ctx.meta else None
        pending = self._pending.setdefault(key, _Pending())
        pending.items.append(item)
        if len(pending.items) >= self._batching.max_messages:
            self._flush(key)
        elif pending.timer is None:
            pending.timer = loop.call_later(self._batching.max_seconds, self._flush, key)
        await item.done

    def _flush(self, key: str | None) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        asyncio.get_running_loop().create_task(self._run(pending.items))

    async def _run(self, items: list[_Item]) -> None:
        batch = {item.msg.task_id: self._value(item.args) for item in items}
        contexts = {item.msg.task_id: item.ctx for item in items}
        try:
            results = await self._call(batch, contexts)
            if results is None:
                results = {}
            if not isinstance(results, dict):
                raise TypeError(
                    f"the @batch method of {self._method.name} returned "
                    f"{type(results).__name__}, not a dict of task id -> result"
                )
            failure: BaseException | None = None
        except Exception as exc:  # noqa: BLE001 - the batch's tasks fail (or retry) with it
            results, failure = {}, exc
        for item in items:
            task_id = item.msg.task_id
            error = failure
            if (
                error is None
                and task_id not in results
                and self._method.return_type
                not in (
                    None,
                    type(None),
                )
            ):
                error = KeyError(
                    f"the @batch method of {self._method.name} returned no result for task "
                    f"{task_id}"
                )
            try:
                await self._report((item.msg, item.ctx, results.get(task_id), error))
            finally:
                if not item.done.done():
                    item.done.set_result(None)

    async def _call(self, batch: dict[str, Any], contexts: dict[str, TaskContext]) -> Any:
        fn = self._fn
        if inspect.iscoroutinefunction(fn):
            context = contextvars.copy_context()
            context.run(_BATCH.set, contexts)
            return await context.run(asyncio.ensure_future, fn(batch))

        def call() -> Any:
            _BATCH.set(contexts)
            return fn(batch)

        return await self._threads.submit(call)

    def _value(self, args: list[Any]) -> Any:
        names = self._method.param_names
        if len(names) == 1:
            return args[0]
        named = dict(zip(names, args, strict=True))
        if self._value_type is None:
            return types.SimpleNamespace(**named)
        limit = self._max_payload_bytes
        encoded = serialization.loads(
            serialization.dumps(named, "batch arguments", limit), "", limit
        )
        return serialization.convert(
            encoded, self._value_type, f"the arguments of a {self._method.name} batch"
        )


def _value_type(fn: Callable[..., Any]) -> Any:
    """`X` when the batch method's parameter is annotated `dict[str, X]` with X a class of its
    own (a dataclass, a pydantic model), else None (an object with the parameters as
    attributes)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations: a plain object
        return None
    params = [p for p in inspect.signature(fn).parameters if p != "self"]
    hint = hints.get(params[0]) if params else None
    args = typing.get_args(hint)
    if (
        len(args) == 2
        and isinstance(args[1], type)
        and args[1] is not Any  # a class since Python 3.11
        and args[1].__module__ not in ("builtins", "typing")
    ):
        return args[1]
    return None
