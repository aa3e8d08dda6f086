"""Channels: typed signals sent to a running workflow by clients or other workflows."""

from __future__ import annotations

import builtins
import typing
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, overload

from ..common import spec
from ..common.serialization import CLASS_KEY
from ._context import WorkflowRuntime, current_run
from .deferred import Deferred

T = TypeVar("T")
S = TypeVar("S")


class Channel(Generic[T]):
    """Declared on a workflow interface: `points = Channel[int]()`.

    In workflow code, `self.points.receive(limit=None, filter=None, type=None)` returns a
    Deferred of the signals that arrive from then on (see BoundChannel.receive). `filter` is
    a mapping of dotted JSON paths to the values a signal must hold
    (`{"type": "points", "user.id": 42}`): it is evaluated by the engine, so it must be data,
    not a function. A signal that arrives while no receive is waiting is discarded (Infinitic's
    rule). From a client or another workflow: `stub.points.send(value)`.
    """

    _infinitic_channel = True  # common.spec.CHANNEL_ATTR: how interfaces' channels are found

    def __init__(self) -> None:
        self.name = ""
        self.owner: type | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner = owner

    @property
    def value_type(self) -> Any:
        origin = getattr(self, "__orig_class__", None)
        args = typing.get_args(origin) if origin is not None else ()
        return args[0] if args else Any

    # On the class, the Channel itself; on an instance (workflow code, or a stub typed as the
    # interface), a channel with receive() and send() typed by T.
    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Channel[T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> BoundChannel[T]: ...
    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return BoundChannel(self, current_run())

    def __repr__(self) -> str:
        return f"<Channel {self.name}>"


class BoundChannel(Generic[T]):
    """A channel seen from the workflow code that owns it."""

    __slots__ = ("channel", "run")

    def __init__(self, channel: Channel[T], run: WorkflowRuntime) -> None:
        self.channel = channel
        self.run = run

    @overload
    def receive(
        self, limit: int | None = None, filter: Mapping[str, Any] | None = None
    ) -> Deferred[T]: ...

    @overload
    def receive(
        self,
        limit: int | None = None,
        filter: Mapping[str, Any] | None = None,
        *,
        type: builtins.type[S],
    ) -> Deferred[S]: ...

    def receive(
        self,
        limit: int | None = None,
        filter: Mapping[str, Any] | None = None,
        type: builtins.type[Any] | None = None,
    ) -> Deferred[Any]:
        """A Deferred of the signals that arrive from now on (a signal sent before is lost).

        Each `.result()` gives the next signal: with no `limit`, every signal is kept; with
        `limit=n`, n are, and `.result()` after the n-th gives the n-th again. `filter` keeps
        the signals whose dotted JSON paths hold the given values; `type` the signals whose
        sent object is of exactly that class (its class travels with the signal)."""
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(f"receive(limit=...) must be a positive int, got {limit!r}")
        if filter is not None and not isinstance(filter, Mapping):
            raise TypeError("receive(filter=...) takes a mapping of JSON paths to values")
        criteria = dict(filter or {})
        value_type = self.channel.value_type
        if type is not None:
            if not isinstance(type, builtins.type):
                raise TypeError(f"receive(type=...) takes a class, got {type!r}")
            if criteria.get(CLASS_KEY) is not None:
                raise ValueError(f"receive: give the class with type=, not a {CLASS_KEY} filter")
            if type is not value_type:  # a value of the declared type itself carries no class
                criteria[CLASS_KEY] = f"{type.__module__}.{type.__qualname__}"
            value_type = type
        index = self.run.receive(self.channel.name, limit or 0, criteria, value_type)
        return Deferred(self.run, ("r", index, 0), value_type)

    def send(self, value: T) -> None:
        """Sends to this very workflow's channel (rarely useful; here for symmetry)."""
        self.run.send_signal_to_self(self.channel.name, self.channel.value_type, value)


def channels_of(interface: type) -> dict[str, Channel[Any]]:
    """The channels an interface declares, by attribute (looked up once per interface)."""
    return typing.cast("dict[str, Channel[Any]]", spec.channels_of(interface))
