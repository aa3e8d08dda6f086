"""Deferred results inside workflows, and their all_of / any_of combinations."""

from __future__ import annotations

import enum
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

if TYPE_CHECKING:
    from ._context import WorkflowRuntime

# covariant: a Deferred[bool] is a Deferred[int], so all_of/any_of of mixed members type-check
T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")


class DeferredStatus(str, enum.Enum):
    ONGOING = "ongoing"
    UNKNOWN = "unknown"
    CANCELED = "canceled"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    COMPLETED = "completed"


class Deferred(Generic[T_co]):
    """The future result of a command dispatched by a workflow.

    `result()` waits for it (a durable step: the workflow task ends here until it is known) and
    returns the value or raises TaskFailedError, WorkflowFailedError, CanceledError or
    TimeoutError; in an `async def` workflow method, `await deferred` does the same.
    `status()` reads the status without waiting.
    """

    __slots__ = ("_run", "_leaf", "_return_type", "_receives")

    def __init__(self, run: WorkflowRuntime, leaf: Any, return_type: Any = Any) -> None:
        self._run = run
        self._leaf = leaf  # ("c", command index) for a command; a tree for all_of / any_of
        self._return_type = return_type
        self._receives = 0  # for channel receives: how many signals were awaited already

    @property
    def id(self) -> str | None:
        """The id of the dispatched task or child workflow (None for a combination)."""
        if self._leaf[0] not in ("c", "r"):
            return None
        command = self._run.commands[self._leaf[1]]
        found: str = command.target_id or command.command_id
        return found

    def result(self) -> T_co:
        value: T_co = self._run.await_deferred(self)
        return value

    def status(self) -> DeferredStatus:
        return DeferredStatus(self._run.deferred_status(self))

    def __await__(self) -> Generator[Any, None, T_co]:
        """`await deferred` in an `async def` workflow method: the same step as `result()`.

        It never yields to an event loop: the replay decides the step (docs/async.md)."""
        yield from ()  # a generator, as `__await__` must be, that never yields
        return self.result()

    def __repr__(self) -> str:
        return f"<Deferred {self._leaf!r}>"


# The overloads keep the members' types: all_of(Deferred[str], Deferred[int]) is a
# Deferred[list[str | int]], any_of of the same a Deferred[str | int]; more members than the
# overloads list (or `*deferreds` from a list) fall back to their common type.
@overload
def all_of(d1: Deferred[T1], /) -> Deferred[list[T1]]: ...
@overload
def all_of(d1: Deferred[T1], d2: Deferred[T2], /) -> Deferred[list[T1 | T2]]: ...
@overload
def all_of(
    d1: Deferred[T1], d2: Deferred[T2], d3: Deferred[T3], /
) -> Deferred[list[T1 | T2 | T3]]: ...
@overload
def all_of(
    d1: Deferred[T1], d2: Deferred[T2], d3: Deferred[T3], d4: Deferred[T4], /
) -> Deferred[list[T1 | T2 | T3 | T4]]: ...
@overload
def all_of(
    d1: Deferred[T1], d2: Deferred[T2], d3: Deferred[T3], d4: Deferred[T4], d5: Deferred[T5], /
) -> Deferred[list[T1 | T2 | T3 | T4 | T5]]: ...
@overload
def all_of(*deferreds: Deferred[T]) -> Deferred[list[T]]: ...
def all_of(*deferreds: Deferred[Any]) -> Deferred[list[Any]]:
    """Completes when every member completes (with the list of their results); fails with the
    first member that fails."""
    return _combine("all", deferreds)


@overload
def any_of(d1: Deferred[T1], /) -> Deferred[T1]: ...
@overload
def any_of(d1: Deferred[T1], d2: Deferred[T2], /) -> Deferred[T1 | T2]: ...
@overload
def any_of(d1: Deferred[T1], d2: Deferred[T2], d3: Deferred[T3], /) -> Deferred[T1 | T2 | T3]: ...
@overload
def any_of(
    d1: Deferred[T1], d2: Deferred[T2], d3: Deferred[T3], d4: Deferred[T4], /
) -> Deferred[T1 | T2 | T3 | T4]: ...
@overload
def any_of(
    d1: Deferred[T1], d2: Deferred[T2], d3: Deferred[T3], d4: Deferred[T4], d5: Deferred[T5], /
) -> Deferred[T1 | T2 | T3 | T4 | T5]: ...
@overload
def any_of(*deferreds: Deferred[T]) -> Deferred[T]: ...
def any_of(*deferreds: Deferred[Any]) -> Deferred[Any]:
    """Completes with the first member that completes; fails only if every member fails."""
    return _combine("any", deferreds)


def _combine(kind: str, deferreds: tuple[Deferred[Any], ...]) -> Deferred[Any]:
    if not deferreds:
        raise ValueError(f"{kind}_of needs at least one Deferred")
    for d in deferreds:
        if not isinstance(d, Deferred):
            raise TypeError(
                f"{kind}_of takes Deferred values (from dispatch, timer, receive), got {d!r}"
            )
    run = deferreds[0]._run
    if any(d._run is not run for d in deferreds):
        raise ValueError(f"{kind}_of mixes Deferred values of different workflow runs")
    return Deferred(run, (kind, tuple(d._leaf for d in deferreds)))
