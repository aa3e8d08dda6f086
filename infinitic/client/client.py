"""InfiniticClient: dispatches work and receives results on its own response topic."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, overload

from .. import errors
from ..common import messages as m
from ..common import serialization
from ..common import workflow_messages as w
from ..common.ids import custom_workflow_id, new_id
from ..common.runtime import Runtime
from ..common.spec import EntitySpec, MethodSpec, describe
from ..storage.base import Storage
from ..storage.index import IndexQuery
from ..transport.base import Topics, Transport, decode_or_dead_letter
from .describe import WorkflowInfo, WorkflowPage, WorkflowStatus, describe_in, list_in
from .handles import TaskHandle
from .stubs import ServiceStub, StubMethod
from .workflows import WorkflowStub, WorkflowStubMethod

log = logging.getLogger("infinitic.client")
T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")
# outcome message ids remembered, so a redelivered copy cannot reach a later wait()
SEEN_OUTCOMES = 10_000


class InfiniticClient:
    """Start tasks, wait for results. Thread-safe; also usable from asyncio code (`await handle`)."""

    def __init__(
        self,
        transport: Transport,
        runtime: Runtime,
        name: str = "client",
        *,
        max_payload_bytes: int = serialization.DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        """`max_payload_bytes`: the largest payload it sends or reads (`maxPayloadBytes`)."""
        self.name = f"{name}-{new_id()[:8]}"
        self._transport = transport
        self._runtime = runtime
        self._max_payload_bytes = max_payload_bytes
        self._topic = Topics.client_response(self.name)
        self._pending: dict[str, tuple[concurrent.futures.Future[Any], MethodSpec]] = {}
        # (workflow id, method run id) -> futures waiting for that method run's outcome
        self._waiting: dict[tuple[str, str], list[tuple[concurrent.futures.Future[Any], Any]]] = {}
        self._requests: dict[str, concurrent.futures.Future[Any]] = {}
        self._seen_outcomes: OrderedDict[str, None] = OrderedDict()
        # (topic, key) -> sent when this client's message posted there first is (see _post)
        self._in_flight: dict[tuple[str, str | None], asyncio.Future[None]] = {}
        self._closed = False
        self._owned: list[Any] = []
        self.start_timeout = 30.0  # seconds dispatch_durably waits for the engine
        # describe_workflow / list_workflows read this storage; from a config, it is built
        # (and started) on first use
        self._storage: Storage | None = None
        self._storage_config: Any = None
        runtime.run(transport.subscribe(self._topic, self._on_response, concurrency=1))

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any] | Any, source: str = "<dict>"
    ) -> InfiniticClient:
        """A client on the transport of a worker config (`name` and `transport` are used)."""
        from ..config import load_config
        from ..transport.factory import check_client_reachable, create_transport

        cfg = load_config(config, source=source)
        check_client_reachable(cfg.transport, cfg.storage, cfg.storage_options)
        runtime = Runtime.acquire()
        transport = create_transport(cfg.transport, cfg.transport_options)
        runtime.run(transport.start())
        client = cls(transport, runtime, name=cfg.name, max_payload_bytes=cfg.max_payload_bytes)
        client._owned = [transport, runtime]
        client._storage_config = (
            {cfg.storage: cfg.storage_options} if cfg.storage_options else cfg.storage
        )
        return client

    @classmethod
    def from_config_file(cls, path: str | Path) -> InfiniticClient:
        from ..config import load_config_file

        return cls.from_config(load_config_file(path))

    # -- stubs and dispatch -------------------------------------------------------------

    def new_service(
        self,
        interface: type[T] | Callable[..., T],
        tags: Iterable[str] | None = None,
        meta: Mapping[str, bytes] | None = None,
    ) -> T:
        """A stub of the service: calling a method runs the task and waits for its result."""
        stub = ServiceStub(self, describe(interface), _tags(tags), _meta(meta))
        return stub  # type: ignore[return-value]

    # an `async def` method's result is what it returns once awaited
    @overload
    def dispatch(
        self, method: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs
    ) -> TaskHandle[R]: ...
    @overload
    def dispatch(
        self, method: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> TaskHandle[R]: ...
    def dispatch(self, method: Any, *args: Any, **kwargs: Any) -> TaskHandle[Any]:
        """Starts `stub.method(*args)` (a task or a workflow method) and returns at once with a
        handle on its result."""
        if isinstance(method, WorkflowStubMethod):
            return self._dispatch_workflow_method(method.stub, method.spec, args, kwargs)
        if not isinstance(method, StubMethod):
            raise TypeError(
                f"dispatch needs a stub method such as client.new_service(I).method, got {method!r}"
            )
        return self._dispatch_task(method.stub, method.spec, args, kwargs)

    def dispatch_durably(self, method: Any, *args: Any, **kwargs: Any) -> TaskHandle[Any]:
        """`dispatch` of a workflow method that returns only once the engine has stored the
        start (on a durable storage, a crash after this returns cannot lose it). Costs a round
        trip to the engine; raises `TimeoutError` after `start_timeout` seconds (30 by default)
        if the engine did not confirm it."""
        if not isinstance(method, WorkflowStubMethod) or method.stub._workflow_id is not None:
            raise TypeError(
                "dispatch_durably starts a workflow: it takes client.new_workflow(I).method, "
                f"got {method!r}"
            )
        handle = self.dispatch(method, *args, **kwargs)
        name = method.stub._spec.name
        # the engine handles the messages of one id in order: this one after the start
        request = w.ConfirmStart(new_id(), handle.id, name, self._topic, time.time())
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._requests[request.message_id] = future
        self._post(Topics.workflow_engine(name), request, handle.id, future)
        stored = TaskHandle(handle.id, f"the start of {name} {handle.id}", future)
        if not stored.result(self.start_timeout):
            raise errors.UnknownWorkflowError(
                f"the start of {name} {handle.id} was not stored by its engine"
            )
        return handle

    def _dispatch_task(
        self, stub: ServiceStub, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> TaskHandle[Any]:
        if self._closed:
            raise RuntimeError("this client is closed")
        where = f"{stub._spec.name}.{spec.name}"
        values = spec.bind(stub._spec.name, args, kwargs)
        payload = serialization.encode_args(
            values, spec.param_names, where, self._max_payload_bytes, declared=spec.param_types
        )
        task_id = new_id()
        message = m.ExecuteTask(
            message_id=new_id(),
            task_id=task_id,
            service_name=stub._spec.name,
            task_name=spec.name,
            args=payload,
            tags=stub._tags,
            meta=dict(stub._meta),
            reply_to=self._topic,
            emitted_at=time.time(),
        )
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._pending[task_id] = (future, spec)
        # a failed send ends the handle: nothing more is expected for it
        future.add_done_callback(lambda _: self._pending.pop(task_id, None))
        self._post(Topics.task_executor(stub._spec.name), message, None, future)
        return TaskHandle(task_id, where, future, spec.caller_timeout)

    # -- workflows -----------------------------------------------------------------------

    def new_workflow(
        self,
        interface: type[T] | Callable[..., T],
        tags: Iterable[str] | None = None,
        meta: Mapping[str, bytes] | None = None,
    ) -> T:
        """A stub whose method calls start a new instance (a `customId:` tag makes the start
        reuse the running instance with that custom id)."""
        tag_set = _tags(tags)
        custom_workflow_id("", tag_set)  # validates: at most one customId tag
        stub = WorkflowStub(self, describe(interface), tag_set, _meta(meta))
        return stub  # type: ignore[return-value]

    def get_workflow_by_id(self, interface: type[T] | Callable[..., T], workflow_id: str) -> T:
        """A stub on an existing instance: run more methods, send signals, cancel, wait."""
        if not isinstance(workflow_id, str) or not workflow_id:
            raise TypeError(f"a workflow id is a non-empty string, got {workflow_id!r}")
        return WorkflowStub(self, describe(interface), workflow_id=workflow_id)  # type: ignore[return-value]

    def get_workflow_by_tag(self, interface: type[T] | Callable[..., T], tag: str) -> T:
        """A stub on every instance with `tag`: send signals, cancel."""
        if not isinstance(tag, str) or not tag:
            raise TypeError(f"a tag is a non-empty string, got {tag!r}")
        return WorkflowStub(self, describe(interface), tag=tag)  # type: ignore[return-value]

    def _dispatch_workflow_method(
        self, stub: WorkflowStub, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> TaskHandle[Any]:
        if self._closed:
            raise RuntimeError("this client is closed")
        name = stub._spec.name
        where = f"{name}.{spec.name}"
        payload = serialization.encode_args(
            spec.bind(name, args, kwargs),
            spec.param_names,
            where,
            self._max_payload_bytes,
            declared=spec.param_types,
        )
        message: Any
        if stub._tag is not None:
            return self._dispatch_by_tag(stub, spec, payload, where)
        if stub._workflow_id is None:
            workflow_id = custom_workflow_id(name, stub._tags) or new_id()
            run_id = workflow_id
            message = w.DispatchWorkflow(
                new_id(),
                workflow_id,
                name,
                spec.name,
                payload,
                stub._tags,
                dict(stub._meta),
                self._topic,
                emitted_at=time.time(),
            )
        else:
            workflow_id, run_id = stub._workflow_id, new_id()
            message = w.DispatchMethod(
                new_id(),
                workflow_id,
                name,
                run_id,
                spec.name,
                payload,
                self._topic,
                emitted_at=time.time(),
            )
        future = self._expect(workflow_id, run_id, spec.return_type)
        before: list[tuple[str, Any, str]] = []
        if isinstance(message, w.DispatchWorkflow):
            # the tag index learns the id before the engine starts the instance, so
            # get_ids_by_tag lists it as soon as this returns (the engine's own add is a no-op)
            before = [
                (
                    Topics.workflow_tag(name),
                    w.TagCommand(
                        new_id(), name, tag, "add", workflow_id=workflow_id, emitted_at=time.time()
                    ),
                    tag,
                )
                for tag in sorted(stub._tags)
            ]
        self._post(Topics.workflow_engine(name), message, workflow_id, future, before=before)
        # the interface's @timeout (or WithTimeout) is the caller's deadline, as for children
        return TaskHandle(workflow_id, where, future, spec.caller_timeout)

    def _dispatch_by_tag(
        self, stub: WorkflowStub, spec: MethodSpec, payload: bytes, where: str
    ) -> TaskHandle[Any]:
        """Runs the method on every instance with the stub's tag; there is no single result."""
        assert stub._tag is not None
        name = stub._spec.name
        command = w.TagCommand(
            new_id(),
            name,
            stub._tag,
            "dispatch",
            channel=spec.name,
            signal=payload,
            emitted_at=time.time(),
        )
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._post(Topics.workflow_tag(name), command, stub._tag, future)
        future.set_exception(
            NotImplementedError(
                f"{where} was dispatched to every instance with tag {stub._tag!r}: "
                "there is no single result to wait for"
            )
        )
        return TaskHandle(command.message_id, where, future)

    def wait(self, stub: Any, timeout: float | None = None) -> Any:
        """The result of an existing instance's main method (also after it ended, within the
        retention, and from another process). In async code: `await wait_async(...)`."""
        return self._wait_handle(stub, timeout).result()

    async def wait_async(self, stub: Any, timeout: float | None = None) -> Any:
        """`wait`, awaited: the event loop runs on while the result comes (so it works in an
        `async def` task, on the worker's own loop). Raises as `wait` does, and `TimeoutError`
        after `timeout` seconds (the instance goes on)."""
        return await self._wait_handle(stub, timeout)

    def _wait_handle(self, stub: Any, timeout: float | None) -> TaskHandle[Any]:
        workflow_id = self._instance_id(stub)
        future = self._expect(workflow_id, workflow_id, stub._spec)
        message = w.WaitWorkflow(
            new_id(), workflow_id, stub._spec.name, None, self._topic, time.time()
        )
        self._post(Topics.workflow_engine(stub._spec.name), message, workflow_id, future)
        return TaskHandle(workflow_id, f"{stub._spec.name} {workflow_id}", future, timeout)

    def cancel(self, stub: Any) -> None:
        """Cancels the instance (and its children), or every instance of a tag stub."""
        if isinstance(stub, WorkflowStub) and stub._tag is not None:
            command = w.TagCommand(
                new_id(), stub._spec.name, stub._tag, "cancel", emitted_at=time.time()
            )
            self._post(Topics.workflow_tag(stub._spec.name), command, stub._tag)
            return
        workflow_id = self._instance_id(stub)
        self._post(
            Topics.workflow_engine(stub._spec.name),
            w.CancelWorkflow(
                new_id(), workflow_id, stub._spec.name, "canceled by a client", time.time()
            ),
            workflow_id,
        )

    def retry_workflow_task(self, stub: Any) -> None:
        """Runs again the workflow task that failed (after a fix of the workflow's code)."""
        workflow_id = self._instance_id(stub)
        self._post(
            Topics.workflow_engine(stub._spec.name),
            w.RetryWorkflowTask(new_id(), workflow_id, stub._spec.name, time.time()),
            workflow_id,
        )

    def complete_timers(self, stub: Any, method_run_id: str | None = None) -> None:
        """Completes the running timers of the instance now (of every instance of a tag stub):
        those of the method run `method_run_id` (the main run's id is the workflow id), else
        of every running method run. An unknown method run completes nothing."""
        if method_run_id is not None and (not isinstance(method_run_id, str) or not method_run_id):
            raise TypeError(f"a method run id is a non-empty string, got {method_run_id!r}")
        if isinstance(stub, WorkflowStub) and stub._tag is not None:
            command = w.TagCommand(
                new_id(),
                stub._spec.name,
                stub._tag,
                "complete_timers",
                channel=method_run_id or "",
                emitted_at=time.time(),
            )
            self._post(Topics.workflow_tag(stub._spec.name), command, stub._tag)
            return
        workflow_id = self._instance_id(stub)
        self._post(
            Topics.workflow_engine(stub._spec.name),
            w.CompleteMethodTimers(
                new_id(), workflow_id, stub._spec.name, method_run_id, time.time()
            ),
            workflow_id,
        )

    def retry_tasks(
        self,
        stub: Any,
        *,
        task_status: str | None = None,
        task_id: str | None = None,
        task_class: type | None = None,
    ) -> None:
        """Runs again the failed and timed-out tasks of the instance; the filters given narrow
        them: `task_status` (`DeferredStatus.FAILED` or `TIMED_OUT`), `task_id`, `task_class`
        (the service's interface). A task whose failure the workflow caught is retried too."""
        if task_status is not None and task_status not in ("failed", "timed_out"):
            raise ValueError(
                f"task_status is DeferredStatus.FAILED or DeferredStatus.TIMED_OUT, "
                f"got {task_status!r}"
            )
        service = describe(task_class).name if task_class is not None else None
        workflow_id = self._instance_id(stub)
        status = None if task_status is None else str(getattr(task_status, "value", task_status))
        self._post(
            Topics.workflow_engine(stub._spec.name),
            w.RetryTasksWhere(
                new_id(), workflow_id, stub._spec.name, task_id, status, service, time.time()
            ),
            workflow_id,
        )

    # -- operating: describe and list, from the storage -----------------------------------

    def describe_workflow(self, workflow: type | str, workflow_id: str) -> WorkflowInfo | None:
        """The stored state of an instance (None if unknown, or ended beyond its retention).

        `workflow`: the interface or its name. Reads the storage, so it works from any process
        that can reach it (not on the in-memory storage of another process).
        """
        name = _workflow_name(workflow)
        if not isinstance(workflow_id, str) or not workflow_id:
            raise TypeError(f"a workflow id is a non-empty string, got {workflow_id!r}")
        return self._runtime.run(describe_in(self._read_storage(), name, workflow_id))

    def list_workflows(
        self,
        name: type | str | None = None,
        status: WorkflowStatus | str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> WorkflowPage:
        """A page of instances, newest first, filtered by workflow name, status and tag.

        Pass the page's `next_cursor` back as `cursor` for the next page. Ended instances are
        listed within their retention; failed ones until canceled or retried.
        """
        query = IndexQuery.of(
            None if name is None else _workflow_name(name),
            status.value if isinstance(status, WorkflowStatus) else status,
            tag,
            limit,
            cursor,
        )
        return self._runtime.run(list_in(self._read_storage(), query))

    def _read_storage(self) -> Storage:
        if self._storage is None:
            if self._storage_config is None:
                raise RuntimeError(
                    "this client has no storage to read: make it with "
                    "InfiniticClient.from_config(...) or use a worker's client"
                )
            from ..storage.factory import create_storage

            storage = create_storage(self._storage_config)
            self._runtime.run(storage.start())
            self._storage = storage
            self._owned.insert(0, storage)
        return self._storage

    def complete_delegated_task(self, service_name: str, task_id: str, result: Any) -> None:
        """Gives the result of a task whose method is `@delegated` (its id is `task.task_id`
        inside the method); the workflow or client waiting on the task gets `result`."""
        if not isinstance(service_name, str) or not service_name:
            raise TypeError(f"a service name is a non-empty string, got {service_name!r}")
        if not isinstance(task_id, str) or not task_id:
            raise TypeError(f"a task id is a non-empty string, got {task_id!r}")
        payload = serialization.dumps(
            result, f"the result of delegated task {task_id}", self._max_payload_bytes
        )
        done = m.TaskCompleted(new_id(), task_id, service_name, "", payload, emitted_at=time.time())
        self._post(Topics.service_tag(service_name), done, task_id)

    def get_ids_by_tag(self, interface: type, tag: str, timeout: float | None = 30) -> list[str]:
        """The ids of the instances of `interface` that have `tag` (running ones). In async
        code: `await get_ids_by_tag_async(...)`."""
        return list(self._ids_handle(interface, tag, timeout, service=False).result())

    async def get_ids_by_tag_async(
        self, interface: type, tag: str, timeout: float | None = 30
    ) -> list[str]:
        """`get_ids_by_tag`, awaited: the event loop runs on while the answer comes."""
        return list(await self._ids_handle(interface, tag, timeout, service=False))

    def get_task_ids_by_tag(
        self, interface: type, tag: str, timeout: float | None = 30
    ) -> list[str]:
        """The ids of the running tasks of the service `interface` that have `tag`."""
        return list(self._ids_handle(interface, tag, timeout, service=True).result())

    async def get_task_ids_by_tag_async(
        self, interface: type, tag: str, timeout: float | None = 30
    ) -> list[str]:
        """`get_task_ids_by_tag`, awaited: the event loop runs on while the answer comes."""
        return list(await self._ids_handle(interface, tag, timeout, service=True))

    def _ids_handle(
        self, interface: type, tag: str, timeout: float | None, service: bool
    ) -> TaskHandle[list[str]]:
        """Asks the tag engine of a workflow (or of a service) for the ids with `tag`."""
        name = describe(interface).name
        request: Any
        if service:
            request = w.ServiceTagCommand(
                new_id(), name, tag, "ids", reply_to=self._topic, emitted_at=time.time()
            )
            topic, what = Topics.service_tag(name), f"task ids of tag {tag}"
        else:
            request = w.TagCommand(
                new_id(), name, tag, "ids", reply_to=self._topic, emitted_at=time.time()
            )
            topic, what = Topics.workflow_tag(name), f"ids of tag {tag}"
        future: concurrent.futures.Future[list[str]] = concurrent.futures.Future()
        self._requests[request.message_id] = future
        self._post(topic, request, tag, future)  # a failed send ends the wait at once
        return TaskHandle(request.message_id, what, future, timeout)

    def _send_signal(self, stub: WorkflowStub, channel: str, payload: bytes) -> None:
        name = stub._spec.name
        if stub._tag is not None:
            command = w.TagCommand(
                new_id(),
                name,
                stub._tag,
                "signal",
                channel=channel,
                signal=payload,
                emitted_at=time.time(),
            )
            self._post(Topics.workflow_tag(name), command, stub._tag)
        else:
            assert stub._workflow_id is not None
            self._post(
                Topics.workflow_engine(name),
                w.SendSignal(new_id(), stub._workflow_id, name, channel, payload, time.time()),
                stub._workflow_id,
            )

    def _instance_id(self, stub: Any) -> str:
        if not isinstance(stub, WorkflowStub) or stub._workflow_id is None:
            raise TypeError(f"this needs a stub from client.get_workflow_by_id, got {stub!r}")
        return stub._workflow_id

    def _expect(
        self, workflow_id: str, run_id: str, return_type: Any
    ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._waiting.setdefault((workflow_id, run_id), []).append((future, return_type))
        return future

    def _post(
        self,
        topic: str,
        message: Any,
        key: str | None,
        future: concurrent.futures.Future[Any] | None = None,
        before: Sequence[tuple[str, Any, str]] = (),
    ) -> None:
        """Sends from the caller's thread without waiting; a failure lands on `future`.

        `before` (topic, message, key) are sent first, then this message. Whatever this client
        posts later to the topic and key of one of them is sent only once that one was: posts
        from one client reach a (topic, key) in the order they were made. An unkeyed post
        goes out at once on a transport that can send without awaiting (in memory)."""
        data = m.encode(message)
        first = [(t, m.encode(msg), k) for t, msg, k in before]
        loop = self._runtime.loop
        send_nowait = getattr(self._transport, "send_nowait", None)

        def failed(exc: Exception) -> None:
            if future is not None and not future.done():
                future.set_exception(exc)
            else:
                log.error("sending %s to %s failed: %s", type(message).__name__, topic, exc)

        async def send(after: list[asyncio.Future[None]], sent: list[asyncio.Future[None]]) -> None:
            try:
                for previous in after:
                    await asyncio.shield(previous)
                for (t, payload, k), done in zip(first, sent, strict=True):
                    try:
                        await self._transport.send(t, payload, key=k)
                    finally:
                        done.set_result(None)
                await self._transport.send(topic, data, key=key)
            except Exception as exc:  # noqa: BLE001 - surfaces on the handle or in the log
                failed(exc)
            finally:
                for done in sent:
                    if not done.done():
                        done.set_result(None)

        def schedule() -> None:
            if key is None and not first and send_nowait is not None:
                # no key, so no order to keep: no need for a task per message
                try:
                    send_nowait(topic, data)
                except Exception as exc:  # noqa: BLE001 - surfaces on the handle or in the log
                    failed(exc)
                return
            # on the loop, in the order of the posts: the marks are in place before a later post
            after = [f for f in (self._in_flight.get((topic, key)),) if f is not None]
            sent = []
            for t, _, k in first:
                done = loop.create_future()
                self._in_flight[(t, k)] = done
                done.add_done_callback(functools.partial(self._landed, (t, k)))
                sent.append(done)
            loop.create_task(send(after, sent))

        loop.call_soon_threadsafe(schedule)

    def _landed(self, where: tuple[str, str], done: asyncio.Future[None]) -> None:
        if self._in_flight.get(where) is done:
            del self._in_flight[where]

    def _on_workflow_response(self, msg: Any) -> None:
        if isinstance(msg, w.TagIds):
            future = self._requests.pop(msg.request_id, None)
            if future is not None and not future.done():
                future.set_result(msg.ids)
            return
        if msg.message_id in self._seen_outcomes:
            return  # a copy of one already handled: it may be older than a wait() since made
        self._seen_outcomes[msg.message_id] = None
        if len(self._seen_outcomes) > SEEN_OUTCOMES:
            self._seen_outcomes.popitem(last=False)
        waiters = self._waiting.pop((msg.workflow_id, msg.method_run_id), [])
        for future, return_type in waiters:
            if future.done():
                continue
            if msg.status == "completed":
                tp = return_type
                if isinstance(tp, EntitySpec):  # wait(): the type of the method that ran
                    method = tp.methods.get(msg.method_name)
                    tp = method.return_type if method is not None else Any
                try:
                    value = serialization.convert(
                        serialization.loads(
                            msg.result, "a workflow result", self._max_payload_bytes
                        ),
                        tp,
                        f"the result of {msg.workflow_name}.{msg.method_name}",
                    )
                except errors.SerializationError as exc:
                    future.set_exception(exc)
                    continue
                future.set_result(value)
            elif msg.status == "canceled":
                future.set_exception(
                    errors.CanceledError(
                        f"workflow {msg.workflow_name} {msg.workflow_id} was canceled",
                        workflow_name=msg.workflow_name,
                        workflow_id=msg.workflow_id,
                    )
                )
            elif msg.status == "unknown":
                future.set_exception(
                    errors.UnknownWorkflowError(
                        f"no running workflow {msg.workflow_name} with id {msg.workflow_id}",
                        workflow_name=msg.workflow_name,
                        workflow_id=msg.workflow_id,
                    )
                )
            else:
                error = msg.error
                future.set_exception(
                    errors.WorkflowFailedError(
                        f"workflow {msg.workflow_name} {msg.workflow_id} failed"
                        + (f": {error.name}: {error.message}" if error else ""),
                        last_error=error,
                        workflow_name=msg.workflow_name,
                        workflow_id=msg.workflow_id,
                        method_name=msg.method_name,
                    )
                )

    # -- responses -----------------------------------------------------------------------

    async def _on_response(self, payload: bytes) -> None:
        expected = (w.MethodOutcome, w.TagIds, m.TaskCompleted, m.TaskFailed)
        msg = await decode_or_dead_letter(
            self._transport, self._topic, payload, expected, "client response"
        )
        if msg is None:
            return
        if isinstance(msg, (w.MethodOutcome, w.TagIds)):
            self._on_workflow_response(msg)
            return
        entry = self._pending.pop(msg.task_id, None)
        if entry is None:
            return  # a duplicate, or a result for a handle already given up
        future, spec = entry
        if future.done():
            return
        if isinstance(msg, m.TaskFailed):
            future.set_exception(
                errors.TaskFailedError(msg.service_name, msg.task_name, msg.task_id, msg.error)
            )
            return
        try:
            value = serialization.convert(
                serialization.loads(msg.result, "a task result", self._max_payload_bytes),
                spec.return_type,
                f"the result of {msg.service_name}.{msg.task_name}",
            )
        except errors.SerializationError as exc:
            future.set_exception(exc)
            return
        future.set_result(value)

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for future, _ in list(self._pending.values()):
            future.cancel()
        self._pending.clear()
        for waiters in self._waiting.values():
            for future, _ in waiters:
                future.cancel()
        self._waiting.clear()
        owned, self._owned = self._owned, []
        # each in order, even if one before it raised (its error is raised once all ran): a
        # transport that fails to close must not leave the runtime's thread running
        with contextlib.ExitStack() as closing:  # run last to first
            for item in reversed(owned):
                if isinstance(item, Runtime):
                    closing.callback(item.release)
                else:
                    closing.callback(self._close_part, item)

    def _close_part(self, part: Any) -> None:
        self._runtime.run(part.close())

    def __enter__(self) -> InfiniticClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _workflow_name(workflow: type | str) -> str:
    if isinstance(workflow, str):
        if not workflow:
            raise TypeError("a workflow name is a non-empty string")
        return workflow
    return describe(workflow).name


def _tags(tags: Iterable[str] | None) -> frozenset[str]:
    if isinstance(tags, str):
        raise TypeError("tags is a collection of strings, not a single string")
    tag_set = frozenset(tags or ())
    for tag in tag_set:
        if not isinstance(tag, str) or not tag:
            raise TypeError(f"tags must be non-empty strings, got {tag!r}")
    return tag_set


def _meta(meta: Mapping[str, bytes] | None) -> dict[str, bytes]:
    for key, value in (meta or {}).items():
        if not isinstance(key, str) or not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"meta must map str to bytes, got {key!r}: {type(value).__name__}")
    return {k: bytes(v) for k, v in (meta or {}).items()}
