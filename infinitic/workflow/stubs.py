"""Stubs used inside workflow code: calls become recorded commands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..common import serialization
from ..common.ids import custom_workflow_id
from ..common.spec import EntitySpec, MethodSpec, declared_async, describe
from ..common.workflow_messages import CommandKind
from ._context import WorkflowRuntime, current_run
from .channel import Channel, channels_of
from .deferred import Deferred


class _Stub:
    """Base of workflow-side stubs; never a workflow property."""

    __slots__ = ("_spec", "_tags", "_meta", "_timeout")

    def __init__(
        self,
        interface: object,
        tags: frozenset[str],
        meta: Mapping[str, bytes],
        timeout: float | None,
    ) -> None:
        self._spec: EntitySpec = describe(interface)
        self._tags = tags
        self._meta = dict(meta)
        self._timeout = timeout

    def _method(self, attribute: str) -> StubMethod:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return StubMethod(self, self._spec.method(attribute))

    def _dispatch(
        self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Deferred[Any]:
        raise NotImplementedError

    def _deadline(self, spec: MethodSpec) -> float:
        seconds = self._timeout if self._timeout is not None else spec.caller_timeout
        if not seconds:
            return 0.0
        return current_run().task.emitted_at + seconds


class StubMethod:
    """`stub.method`: call it to wait for the result, or pass it to `self.dispatch`."""

    __slots__ = ("stub", "spec")

    def __init__(self, stub: _Stub, spec: MethodSpec) -> None:
        self.stub = stub
        self.spec = spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        deferred = self.stub._dispatch(self.spec, args, kwargs)
        if deferred._run.in_coroutine and declared_async(
            self.stub._spec.interface, self.spec.attribute
        ):
            return deferred  # `await stub.method(...)`: the interface says it is awaitable
        return deferred.result()

    def dispatch(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        return self.stub._dispatch(self.spec, args, kwargs)


def _encode(
    run: WorkflowRuntime,
    owner: str,
    spec: MethodSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> bytes:
    values = spec.bind(owner, args, kwargs)
    where = f"{owner}.{spec.name}"
    return serialization.encode_args(
        values, spec.param_names, where, run.max_payload_bytes, declared=spec.param_types
    )


class ServiceStub(_Stub):
    """`self.new_service(Interface, tags=, meta=, timeout=)` inside a workflow."""

    __slots__ = ()

    def __getattr__(self, attribute: str) -> StubMethod:
        return self._method(attribute)

    def _dispatch(
        self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Deferred[Any]:
        run = current_run()
        payload = _encode(run, self._spec.name, spec, args, kwargs)
        index = run.command(
            "task",
            self._spec.name,
            spec.name,
            payload,
            spec.return_type,
            tags=self._tags,
            meta=dict(self._meta),
            deadline=self._deadline(spec),
        )
        return Deferred(run, ("c", index), spec.return_type)


class WorkflowStub(_Stub):
    """A new child workflow (`new_workflow`), or an existing one (`get_workflow_by_id/tag`)."""

    __slots__ = ("_target_id", "_target_tag")

    def __init__(
        self,
        interface: object,
        tags: frozenset[str],
        meta: Mapping[str, bytes],
        timeout: float | None,
        target_id: str | None = None,
        target_tag: str | None = None,
    ) -> None:
        super().__init__(interface, tags, meta, timeout)
        self._target_id = target_id
        self._target_tag = target_tag

    def __getattr__(self, attribute: str) -> Any:
        channel = channels_of(self._spec.interface).get(attribute)
        if channel is not None:
            return ChannelSender(self, channel)
        return self._method(attribute)

    def _dispatch(
        self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Deferred[Any]:
        run = current_run()
        payload = _encode(run, self._spec.name, spec, args, kwargs)
        if self._target_tag is not None:
            raise TypeError(
                "methods cannot be dispatched by tag from a workflow (their results would be "
                "many); use get_workflow_by_id, or send a signal to the tag's channel"
            )
        kind: CommandKind = "method" if self._target_id is not None else "workflow"
        target_id = self._target_id
        if target_id is None:
            target_id = custom_workflow_id(self._spec.name, self._tags)
        index = run.command(
            kind,
            self._spec.name,
            spec.name,
            payload,
            spec.return_type,
            tags=self._tags,
            meta=dict(self._meta),
            deadline=self._deadline(spec),
            target_id=target_id,
        )
        return Deferred(run, ("c", index), spec.return_type)


class ChannelSender:
    """`stub.channel` on another workflow: `send(value)` records a signal command."""

    __slots__ = ("stub", "channel")

    def __init__(self, stub: WorkflowStub, channel: Channel[Any]) -> None:
        self.stub = stub
        self.channel = channel

    def send(self, value: Any) -> None:
        run = current_run()
        payload = serialization.dumps(
            value,
            f"the signal sent to {self.stub._spec.name}.{self.channel.name}",
            run.max_payload_bytes,
            declared=self.channel.value_type,
        )
        index = run.command(
            "signal",
            self.stub._spec.name,
            self.channel.name,
            payload,
            target_id=self.stub._target_id,
            target_tag=self.stub._target_tag,
        )
        run.complete_now(index, b"null")


def is_stub(value: Any) -> bool:
    return isinstance(value, (_Stub, StubMethod, ChannelSender))
