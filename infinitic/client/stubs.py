"""Client-side stubs: attribute access gives a method that runs the task and waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from ..common.runtime import Runtime
from ..common.spec import EntitySpec, MethodSpec, declared_async
from .handles import TaskHandle


class ServiceClient(Protocol):
    """What a service stub calls on the client that made it (an InfiniticClient): the stubs
    and the client are told apart by this, so neither module imports the other."""

    _runtime: Runtime
    _max_payload_bytes: int

    def _dispatch_task(
        self, stub: ServiceStub, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> TaskHandle[Any]: ...


class StubMethod:
    """`stub.method`: call it to run and wait, or pass it to `client.dispatch`."""

    __slots__ = ("stub", "spec")

    def __init__(self, stub: ServiceStub, spec: MethodSpec) -> None:
        self.stub = stub
        self.spec = spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        awaitable = awaits(self.stub._client, self.stub._spec, self.spec)
        handle = self.stub._client._dispatch_task(self.stub, self.spec, args, kwargs)
        return handle if awaitable else handle.result()

    def __repr__(self) -> str:
        return f"<stub method {self.stub._spec.name}.{self.spec.name}>"


class ServiceStub:
    """Returned by `client.new_service(Interface, tags=, meta=)`."""

    def __init__(
        self,
        client: ServiceClient,
        spec: EntitySpec,
        tags: frozenset[str],
        meta: Mapping[str, bytes],
    ) -> None:
        self._client = client
        self._spec = spec
        self._tags = tags
        self._meta = dict(meta)

    def __getattr__(self, attribute: str) -> StubMethod:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return StubMethod(self, self._spec.method(attribute))

    def __repr__(self) -> str:
        return f"<service stub {self._spec.name} tags={sorted(self._tags)}>"


def awaits(client: ServiceClient, entity: EntitySpec, spec: MethodSpec) -> bool:
    """How a stub call answers: True, an awaitable handle (an `async def` method called from
    async code); False, the value, waited for on this thread. A wait that would block the very
    loop the answer comes through (a sync call in an `async def` task of this worker) is refused:
    it could only end in a timeout."""
    loop = asyncio.events._get_running_loop()  # None in sync code, without raising
    if loop is None:
        return False
    if declared_async(entity.interface, spec.attribute):
        return True
    if loop is client._runtime.loop:
        where = f"{entity.name}.{spec.name}"
        raise RuntimeError(
            f"{where}() waits for its result, which would block the event loop this call runs "
            f"on (an `async def` task) and that must deliver that result: in async code, write "
            f"`await client.dispatch(stub.{spec.attribute}, ...)`, or declare "
            f"{spec.attribute} `async def` in the interface and `await stub.{spec.attribute}(...)`"
        )
    return False
