"""The task executor: runs ExecuteTask messages on a service implementation.

Success sends TaskCompleted; an exception asks the resolved retry policy for a delay and sends
the ExecuteTask again, delayed, with retry_index + 1 and last_error; when the policy says no,
TaskFailed. Unrunnable messages (unknown task, bad arguments) fail at once; undecodable bytes go
to the dead-letter place.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..common import messages as m
from ..common import serialization
from ..common.errors import error_info
from ..common.ids import new_id
from ..common.spec import EntitySpec, MethodSpec, describe
from ..common.workflow_messages import ServiceTagAction, ServiceTagCommand
from ..service.context import _CURRENT, TaskContext
from ..service.decorators import DELEGATED_ATTR
from ..service.policies import WithRetry, WithTimeout, grace_period
from ..service.spec import resolve_retry, resolve_timeout
from ..transport.base import Topics, Transport, decode_or_dead_letter
from ..workflow.aio import check_method, check_sync_hook
from .batches import Batcher, Batching, Outcome, batch_methods
from .threads import TaskThreads

log = logging.getLogger("infinitic.executors.task")
_UNKNOWN = "infinitic.errors.UnknownTaskError"
_SERIALIZATION = "infinitic.errors.SerializationError"


@dataclass
class ServiceRegistration:
    """A service as the worker runs it."""

    implementation: type
    instance: object
    name: str = ""
    concurrency: int = 1
    timeout: WithTimeout | None = None  # from the worker config: overrides everything
    retry: WithRetry | None = None
    batching: Batching | None = None  # from the worker config: tasks with a @batch method
    spec: EntitySpec = field(init=False)
    batch_methods: dict[str, str] = field(init=False)  # task attribute -> its @batch method

    def __post_init__(self) -> None:
        self.spec = describe(self.implementation)
        try:
            self.batch_methods = batch_methods(self.implementation, self.spec)
        except TypeError as exc:
            raise errors.ConfigError(str(exc)) from None
        if not self.name:
            self.name = self.spec.name
        elif self.name != self.spec.name:
            raise errors.ConfigError(
                f"service {self.name!r}: class {self.implementation.__qualname__} is named "
                f"{self.spec.name!r} (by @name or its interface); use that name in the config"
            )
        problems = _never_runnable(self)
        if problems:
            raise errors.ConfigError("; ".join(problems))


def _never_runnable(service: ServiceRegistration) -> list[str]:
    """What could never run, found at start: generator tasks, `async def` policy hooks."""
    found: dict[str, None] = {}  # in order, once each: one policy may serve every task
    for method in service.spec.methods.values():
        name, attribute = service.name, method.attribute
        timeout = resolve_timeout(service.instance, attribute, service.timeout)
        retry = resolve_retry(service.instance, attribute, service.retry)
        for problem in (
            check_method(
                "service", name, attribute, getattr(service.implementation, attribute, None)
            ),
            check_sync_hook(
                name, "get_timeout_in_seconds", getattr(timeout, "get_timeout_in_seconds", None)
            ),
            check_sync_hook(
                name, "get_seconds_before_retry", getattr(retry, "get_seconds_before_retry", None)
            ),
        ):
            if problem:
                found[problem] = None
    return list(found)


class _Unrunnable(Exception):
    """The message cannot be run at all: fail it without retrying."""

    def __init__(self, message: str, kind: str = "TypeError") -> None:
        super().__init__(message)
        self.kind = kind


class TaskExecutor:
    """Consumes one service's executor topic and runs each ExecuteTask on the service's
    implementation, replying TaskCompleted, a delayed retry, or TaskFailed."""

    def __init__(
        self,
        transport: Transport,
        service: ServiceRegistration,
        *,
        worker_name: str,
        client: Any = None,
        max_payload_bytes: int = serialization.DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self.transport = transport
        self.service = service
        self.worker_name = worker_name
        self.client = client
        self.max_payload_bytes = max_payload_bytes  # of the arguments it reads, results it sends
        self.topic = Topics.task_executor(service.name)
        self.threads = TaskThreads(service.concurrency, f"infinitic-{service.name}")
        self._coroutines = asyncio.Semaphore(service.concurrency)  # `async def` tasks running
        self._policies: dict[str, tuple[WithTimeout | None, WithRetry]] = {}
        # called with ("started", msg, None), ("retried", msg, (retry, delay)) and ("ended",
        # msg, TaskCompleted | TaskFailed): the event listener and the metrics (infinitic/events)
        self.taps: list[Callable[[str, m.ExecuteTask, Any], None]] = []
        self._batchers: dict[str, Batcher] = {}
        self._running = 0  # messages being handled: a closing worker waits for them (drain)
        self._idle = asyncio.Event()
        self._idle.set()
        batching = service.batching
        for task_attribute, batch_attribute in service.batch_methods.items():
            if batching is not None:
                self._batchers[task_attribute] = Batcher(
                    service.instance,
                    service.spec.by_attribute[task_attribute],
                    batch_attribute,
                    batching,
                    self.threads,
                    self._batch_outcome,
                    max_payload_bytes=max_payload_bytes,
                )

    async def start(self) -> None:
        # `concurrency` threads (and at most that many `async def` tasks at once); the transport
        # may hand over more messages than that, which wait here for a thread
        concurrency = self.service.concurrency * max(1, self.transport.task_messages_per_thread)
        batching = self.service.batching
        if batching is not None and self._batchers:
            # a task waiting for its batch holds its message: a whole batch must fit in flight
            concurrency = max(concurrency, batching.max_messages)
        await self.transport.subscribe(
            self.topic, self.handle, keyed=False, concurrency=concurrency
        )

    def close(self) -> None:
        self.threads.close()

    @property
    def running(self) -> int:
        """The messages this executor is handling now."""
        return self._running

    async def drain(self, seconds: float) -> bool:
        """Waits up to `seconds` for the messages being handled to end; False if some still run."""
        if self._running:
            try:
                await asyncio.wait_for(self._idle.wait(), seconds)
            except asyncio.TimeoutError:  # not the builtin one before Python 3.11
                return False
        return True

    async def handle(self, payload: bytes) -> None:
        self._running += 1
        self._idle.clear()
        try:
            msg = await decode_or_dead_letter(
                self.transport, self.topic, payload, m.ExecuteTask, "task-executor"
            )
            if msg is not None:
                await self.execute(msg)
        finally:
            self._running -= 1
            if not self._running:
                self._idle.set()

    async def _tags(self, msg: m.ExecuteTask, action: ServiceTagAction) -> None:
        for tag in sorted(msg.tags):
            command = ServiceTagCommand(
                new_id(), msg.service_name, tag, action, msg.task_id, emitted_at=time.time()
            )
            await self.transport.send(
                Topics.service_tag(msg.service_name), m.encode(command), key=tag
            )

    async def execute(self, msg: m.ExecuteTask) -> None:
        for tap in self.taps:
            tap("started", msg, None)
        if msg.tags and msg.retry_index == 0 and msg.retry_sequence == 0:
            await self._tags(msg, "add")
        ctx = TaskContext(
            task_id=msg.task_id,
            service_name=msg.service_name,
            task_name=msg.task_name,
            workflow_id=msg.workflow_id,
            workflow_name=msg.workflow_name,
            tags=msg.tags,
            meta=dict(msg.meta),
            retry_index=msg.retry_index,
            retry_sequence=msg.retry_sequence,
            last_error=msg.last_error,
            client=self.client,
            worker_name=self.worker_name,
        )
        try:
            method, args = self._prepare(msg)
        except _Unrunnable as exc:
            await self._fail(msg, ctx, exc)
            return
        batcher = self._batchers.get(method.attribute)
        if batcher is not None:
            await batcher.add(msg, ctx, args)
            return
        timeout_policy, retry_policy = self._policies_for(method)
        ctx.with_timeout, ctx.with_retry = timeout_policy, retry_policy
        try:
            seconds = grace = None
            if timeout_policy is not None:
                seconds = _in_context(ctx, timeout_policy.get_timeout_in_seconds)
                grace = _in_context(ctx, grace_period, timeout_policy)
            result = await self._run(ctx, method, args, seconds, grace or 0.0)
            delegated = self._delegated(method)
            payload = (
                b""
                if delegated
                else serialization.dumps(
                    result,
                    f"the result of {self.service.name}.{method.name}",
                    self.max_payload_bytes,
                    declared=method.return_type,
                )
            )
        except Exception as exc:  # noqa: BLE001 - a task's exception is a technical failure
            await self._retry_or_fail(msg, ctx, retry_policy, exc)
            return
        if delegated:
            # its result comes later from client.complete_delegated_task, through the service
            # tag engine, which keeps what the reply needs (keyed by the task id)
            msg.meta = ctx.meta
            for tap in self.taps:
                tap("delegated", msg, None)
            await self.transport.send(
                Topics.service_tag(msg.service_name), m.encode(msg), key=msg.task_id
            )
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "task %s.%s %s completed (attempt %d%s)",
                msg.service_name,
                msg.task_name,
                msg.task_id,
                msg.retry_index + 1,
                f", workflow {msg.workflow_name} {msg.workflow_id}" if msg.workflow_id else "",
            )
        await self._complete(msg, ctx, payload)

    async def _complete(self, msg: m.ExecuteTask, ctx: TaskContext, payload: bytes) -> None:
        reply = m.TaskCompleted(new_id(), msg.task_id, msg.service_name, msg.task_name, payload)
        await self._reply(msg, ctx, reply)

    async def _batch_outcome(self, outcome: Outcome) -> None:
        msg, ctx, result, error = outcome
        method = self.service.spec.methods[msg.task_name]
        try:
            if error is not None:
                raise error
            payload = serialization.dumps(
                result,
                f"the result of {self.service.name}.{method.name}",
                self.max_payload_bytes,
                declared=method.return_type,
            )
        except Exception as exc:  # noqa: BLE001 - a task's exception is a technical failure
            await self._retry_or_fail(msg, ctx, self._policies_for(method)[1], exc)
            return
        await self._complete(msg, ctx, payload)

    def _prepare(self, msg: m.ExecuteTask) -> tuple[MethodSpec, list[Any]]:
        if msg.service_name != self.service.name:
            raise _Unrunnable(
                f"this executor runs {self.service.name!r}, not {msg.service_name!r}", _UNKNOWN
            )
        method = self.service.spec.methods.get(msg.task_name)
        if method is None:
            raise _Unrunnable(
                f"service {self.service.name!r} has no task {msg.task_name!r}", _UNKNOWN
            )
        try:
            return method, method.decode_args(msg.args, self.service.name, self.max_payload_bytes)
        except errors.SerializationError as exc:
            raise _Unrunnable(str(exc), _SERIALIZATION) from None
        except TypeError as exc:
            raise _Unrunnable(str(exc)) from None

    def _delegated(self, method: MethodSpec) -> bool:
        fn = getattr(type(self.service.instance), method.attribute, None)
        return bool(getattr(fn, DELEGATED_ATTR, False))

    def _policies_for(self, method: MethodSpec) -> tuple[WithTimeout | None, WithRetry]:
        cached = self._policies.get(method.attribute)
        if cached is None:
            instance = self.service.instance
            cached = (
                resolve_timeout(instance, method.attribute, self.service.timeout),
                resolve_retry(instance, method.attribute, self.service.retry),
            )
            self._policies[method.attribute] = cached
        return cached

    async def _run(
        self,
        ctx: TaskContext,
        method: MethodSpec,
        args: list[Any],
        seconds: float | None,
        grace: float = 0.0,
    ) -> Any:
        fn: Callable[..., Any] = getattr(self.service.instance, method.attribute)
        if inspect.iscoroutinefunction(fn):
            async with self._coroutines:
                context = contextvars.copy_context()
                context.run(_CURRENT.set, ctx)
                task = context.run(asyncio.ensure_future, fn(*args))
                return await self._outcome(ctx, task, seconds, grace, time.monotonic())

        def call() -> Any:
            _CURRENT.set(ctx)
            return fn(*args)

        return await self._outcome(ctx, self.threads.submit(call), seconds, grace, None)

    async def _outcome(
        self,
        ctx: TaskContext,
        future: asyncio.Future[Any],
        seconds: float | None,
        grace: float,
        started: float | None,
    ) -> Any:
        """The result of the running attempt; past its runtime timeout, counted from when it
        started (a call queued for a thread has not), it is given up."""
        if seconds is None:
            return await future
        wait = seconds
        while True:
            done, _ = await asyncio.wait((future,), timeout=wait)
            if done:
                return future.result()
            if started is None:
                started = self.threads.started_at(future)
            if started is not None:
                wait = started + seconds - time.monotonic()
                if wait <= 0:
                    break
        await _timed_out(ctx, future, grace)
        if isinstance(future, asyncio.Task):
            future.cancel()
        else:
            self.threads.abandon(future)
            future.cancel()
        raise _timeout_error(seconds)

    async def _retry_or_fail(
        self, msg: m.ExecuteTask, ctx: TaskContext, policy: WithRetry, exc: Exception
    ) -> None:
        try:
            delay = _in_context(ctx, policy.get_seconds_before_retry, msg.retry_index, exc)
        except Exception as policy_exc:  # noqa: BLE001 - a broken policy must not loop
            log.exception("retry policy of %s.%s raised", msg.service_name, msg.task_name)
            policy_exc.__context__ = exc
            await self._fail(msg, ctx, policy_exc)
            return
        if delay is None:
            await self._fail(msg, ctx, exc)
            return
        delay = max(0.0, float(delay))
        log.info(
            "task %s.%s %s failed (%s), retry %d in %.3fs",
            msg.service_name,
            msg.task_name,
            msg.task_id,
            type(exc).__name__,
            msg.retry_index + 1,
            delay,
        )
        retry = m.ExecuteTask(
            message_id=new_id(),
            task_id=msg.task_id,
            service_name=msg.service_name,
            task_name=msg.task_name,
            args=msg.args,
            tags=msg.tags,
            meta=ctx.meta,
            retry_index=msg.retry_index + 1,
            retry_sequence=msg.retry_sequence,
            last_error=error_info(exc, self.worker_name),
            reply_to=msg.reply_to,
            workflow_id=msg.workflow_id,
            workflow_name=msg.workflow_name,
            method_run_id=msg.method_run_id,
            emitted_at=time.time(),
        )
        for tap in self.taps:
            tap("retried", msg, (retry, delay))
        await self.transport.send(self.topic, m.encode(retry), delay=delay)

    async def _fail(self, msg: m.ExecuteTask, ctx: TaskContext, exc: BaseException) -> None:
        info = error_info(exc, self.worker_name, previous=msg.last_error)
        if isinstance(exc, _Unrunnable):
            info.name = exc.kind
        # in a workflow, the workflow may catch it: the engine warns if the instance fails
        log.log(
            logging.INFO if msg.workflow_id else logging.WARNING,
            "task %s.%s %s failed%s: %s",
            msg.service_name,
            msg.task_name,
            msg.task_id,
            f" (workflow {msg.workflow_name} {msg.workflow_id})" if msg.workflow_id else "",
            exc,
        )
        reply = m.TaskFailed(new_id(), msg.task_id, msg.service_name, msg.task_name, info)
        await self._reply(msg, ctx, reply)

    async def _reply(
        self, msg: m.ExecuteTask, ctx: TaskContext, reply: m.TaskCompleted | m.TaskFailed
    ) -> None:
        """Sends `reply`, given what it answers from `msg`, to the workflow and the client."""
        reply.meta = ctx.meta
        reply.reply_to = msg.reply_to
        reply.workflow_id = msg.workflow_id
        reply.workflow_name = msg.workflow_name
        reply.method_run_id = msg.method_run_id
        reply.emitted_at = time.time()
        for tap in self.taps:
            tap("ended", msg, reply)
        reply.meta = m.reply_meta(reply.meta, msg.retry_sequence)
        if msg.tags:
            await self._tags(msg, "remove")
        payload = m.encode(reply)
        if msg.workflow_name and msg.workflow_id:
            await self.transport.send(
                Topics.workflow_engine(msg.workflow_name), payload, key=msg.workflow_id
            )
        if msg.reply_to:
            await self.transport.send(msg.reply_to, payload)


def _in_context(ctx: TaskContext, fn: Callable[..., Any], *args: Any) -> Any:
    context = contextvars.Context()
    context.run(_CURRENT.set, ctx)
    return context.run(fn, *args)


async def _timed_out(ctx: TaskContext, future: asyncio.Future[Any], grace: float) -> None:
    """The runtime timeout struck: the task can see it (`task.has_timed_out`), its
    `task.on_timeout` callbacks run, and it has `grace` seconds to end (its result is ignored)."""
    ctx.has_timed_out = True
    loop = asyncio.get_running_loop()
    for callback in list(ctx.timeout_callbacks):
        try:
            await loop.run_in_executor(None, _in_context, ctx, callback)
        except Exception:  # noqa: BLE001 - a broken callback must not hide the timeout
            log.exception("on_timeout callback of task %s raised", ctx.task_id)
    if grace > 0:
        await asyncio.wait((future,), timeout=grace)
    if future.done() and not future.cancelled():
        future.exception()  # retrieved: an abandoned attempt's error is not the task's


def _timeout_error(seconds: float) -> errors.TimeoutError:
    return errors.TimeoutError(f"the task ran longer than its runtime timeout of {seconds:g}s")
