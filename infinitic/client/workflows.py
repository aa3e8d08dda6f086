"""Client-side workflow stubs: new instances, existing ones by id, and tagged ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..common import serialization
from ..common.spec import DeclaredChannel, EntitySpec, MethodSpec, channels_of
from .handles import TaskHandle
from .stubs import ServiceClient, awaits


class WorkflowClient(ServiceClient, Protocol):
    """What a workflow stub calls on the client that made it (an InfiniticClient)."""

    def _dispatch_workflow_method(
        self, stub: WorkflowStub, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> TaskHandle[Any]: ...

    def _send_signal(self, stub: WorkflowStub, channel: str, payload: bytes) -> None: ...


class WorkflowStubMethod:
    """`stub.method`: call it to run and wait, or pass it to `client.dispatch`."""

    __slots__ = ("stub", "spec")

    def __init__(self, stub: WorkflowStub, spec: MethodSpec) -> None:
        self.stub = stub
        self.spec = spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.stub._tag is not None:
            raise NotImplementedError(
                f"{self.stub._spec.name}.{self.spec.name}: a stub by tag may target several "
                "instances, so it has no single result to wait for; use "
                "client.dispatch(stub.method, ...) (or get_workflow_by_id for one instance)"
            )
        awaitable = awaits(self.stub._client, self.stub._spec, self.spec)
        handle = self.stub._client._dispatch_workflow_method(self.stub, self.spec, args, kwargs)
        return handle if awaitable else handle.result()

    def __repr__(self) -> str:
        return f"<workflow stub method {self.stub._spec.name}.{self.spec.name}>"


class WorkflowStub:
    """`client.new_workflow(I, tags=, meta=)` (each call starts an instance),
    `client.get_workflow_by_id(I, id)` or `client.get_workflow_by_tag(I, tag)`."""

    def __init__(
        self,
        client: WorkflowClient,
        spec: EntitySpec,
        tags: frozenset[str] = frozenset(),
        meta: Mapping[str, bytes] | None = None,
        workflow_id: str | None = None,
        tag: str | None = None,
    ) -> None:
        self._client = client
        self._spec = spec
        self._tags = tags
        self._meta = dict(meta or {})
        self._workflow_id = workflow_id
        self._tag = tag

    @property
    def id(self) -> str | None:
        """The instance's id (stubs from get_workflow_by_id), else None."""
        return self._workflow_id

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        channel = channels_of(self._spec.interface).get(attribute)
        if channel is not None:
            return ChannelSender(self, channel)
        return WorkflowStubMethod(self, self._spec.method(attribute))

    def __repr__(self) -> str:
        target = self._workflow_id or (f"tag {self._tag}" if self._tag else "new")
        return f"<workflow stub {self._spec.name} {target}>"


class ChannelSender:
    """`stub.channel.send(value)` from a client."""

    __slots__ = ("stub", "channel")

    def __init__(self, stub: WorkflowStub, channel: DeclaredChannel) -> None:
        self.stub = stub
        self.channel = channel

    def send(self, value: Any) -> None:
        if self.stub._workflow_id is None and self.stub._tag is None:
            raise TypeError("send signals through get_workflow_by_id or get_workflow_by_tag stubs")
        payload = serialization.dumps(
            value,
            f"the signal sent to {self.stub._spec.name}.{self.channel.name}",
            self.stub._client._max_payload_bytes,
            declared=self.channel.value_type,
        )
        self.stub._client._send_signal(self.stub, self.channel.name, payload)
