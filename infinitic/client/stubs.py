"""Client-side stubs: attribute access gives a method that runs the task and waits for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..service.spec import EntitySpec, MethodSpec

if TYPE_CHECKING:
    from .client import InfiniticClient


class StubMethod:
    """`stub.method`: call it to run and wait, or pass it to `client.dispatch`."""

    __slots__ = ("stub", "spec")

    def __init__(self, stub: ServiceStub, spec: MethodSpec) -> None:
        self.stub = stub
        self.spec = spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.stub._client._dispatch_task(self.stub, self.spec, args, kwargs).result()

    def __repr__(self) -> str:
        return f"<stub method {self.stub._spec.name}.{self.spec.name}>"


class ServiceStub:
    """Returned by `client.new_service(Interface, tags=, meta=)`."""

    def __init__(
        self,
        client: InfiniticClient,
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
