"""The Workflow base class: the API workflow code calls on `self`."""

from __future__ import annotations

import random as _random
import typing
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ParamSpec, TypeVar, overload

from ..common import clock, serialization
from ._context import current_run
from .aio import is_coroutine
from .deferred import Deferred
from .stubs import ServiceStub, StubMethod, WorkflowStub

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


def _return_hint(fn: Callable[..., Any]) -> Any:
    try:
        return typing.get_type_hints(fn).get("return", Any)
    except Exception:  # noqa: BLE001 - lambdas and unresolvable hints: plain JSON
        return Any


def _inline_value(fn: Callable[[], Any]) -> Any:
    value = fn()
    if is_coroutine(value):
        value.close()
        raise TypeError(
            f"self.inline takes a plain function, got {fn!r} which returns a coroutine: an "
            "inline step runs once, synchronously, inside the workflow task; put async I/O in "
            "a service task and call it through a stub"
        )
    return value


def _recorded(name: str, fn: Callable[[], T], result_type: Any) -> T:
    """An inline step: `fn()` the first time, its recorded JSON value on every replay. `name`
    is the step's target, so swapping `self.now()` for `self.random()` is a change the replay
    sees."""
    run = current_run()
    index = run.command("inline", name, "", b"", result_type)
    command = run.commands[index]
    if command.status != "completed":
        # the first run returns the recorded JSON too, so replays see the same value
        run.inline_depth += 1
        try:
            value = _inline_value(fn)
        finally:
            run.inline_depth -= 1
        what = f"the result of {name or 'an inline step'}"
        run.complete_now(index, serialization.dumps(value, what, run.max_payload_bytes))
    return run.value_of(index)  # type: ignore[no-any-return]


class Workflow:
    """Base class of workflow interfaces and implementations.

    Workflow code must be deterministic: no clock, randomness, I/O or threads except through
    `inline`, timers and stubs. Instance attributes are the workflow's properties: they are
    saved after each workflow task and shared by the method runs of the instance.
    """

    _infinitic_root = True

    # -- stubs ------------------------------------------------------------------------------

    def new_service(
        self,
        interface: type[T] | Callable[..., T],
        tags: Iterable[str] | None = None,
        meta: Mapping[str, bytes] | None = None,
        timeout: float | None = None,
    ) -> T:
        """A stub of a service; `timeout` is a deadline for each call (retries included)."""
        return ServiceStub(interface, frozenset(tags or ()), meta or {}, timeout)  # type: ignore[return-value]

    def new_workflow(
        self,
        interface: type[T] | Callable[..., T],
        tags: Iterable[str] | None = None,
        meta: Mapping[str, bytes] | None = None,
        timeout: float | None = None,
    ) -> T:
        """A stub that starts a child workflow for each call."""
        return WorkflowStub(interface, frozenset(tags or ()), meta or {}, timeout)  # type: ignore[return-value]

    def get_workflow_by_id(
        self, interface: type[T] | Callable[..., T], workflow_id: str, timeout: float | None = None
    ) -> T:
        """A stub on an existing workflow: dispatch its methods, send to its channels."""
        return WorkflowStub(interface, frozenset(), {}, timeout, target_id=workflow_id)  # type: ignore[return-value]

    def get_workflow_by_tag(self, interface: type[T] | Callable[..., T], tag: str) -> T:
        """A stub on every workflow with `tag`: send to their channels."""
        return WorkflowStub(interface, frozenset(), {}, None, target_tag=tag)  # type: ignore[return-value]

    # -- commands ---------------------------------------------------------------------------

    # an `async def` method's result is what it returns once awaited
    @overload
    def dispatch(
        self, method: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs
    ) -> Deferred[R]: ...
    @overload
    def dispatch(
        self, method: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> Deferred[R]: ...
    def dispatch(self, method: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Starts `stub.method(*args)` without waiting; returns its Deferred."""
        if not isinstance(method, StubMethod):
            raise TypeError(
                f"dispatch takes a stub method (self.new_service(I).method), got {method!r}"
            )
        return method.dispatch(*args, **kwargs)

    def timer(self, duration: timedelta | float) -> Deferred[datetime]:
        """A durable timer; its result is the time it fired for."""
        delta = duration if isinstance(duration, timedelta) else timedelta(seconds=duration)
        run = current_run()
        return Deferred(run, ("c", run.timer_for(delta)), datetime)

    def timer_until(self, instant: datetime) -> Deferred[datetime]:
        if instant.tzinfo is None:
            raise ValueError("timer_until needs an aware datetime (with a tzinfo)")
        run = current_run()
        return Deferred(run, ("c", run.timer_at(instant.timestamp())), datetime)

    def inline(self, fn: Callable[[], T]) -> T:
        """Runs `fn` once, the first time, and records its result for every replay. `fn` may
        not dispatch, call a stub, start a timer, receive or await (InvalidInlineError)."""
        return _recorded("", fn, _return_hint(fn))

    # -- deterministic helpers: inline steps named for what they read -------------------------

    def now(self) -> datetime:
        """The current time (aware, UTC), read the first time and recorded: replays see the
        same value. Inside a test environment it is the virtual time."""
        return _recorded(
            "now", lambda: datetime.fromtimestamp(clock.now(), tz=timezone.utc), datetime
        )

    def random(self) -> float:
        """A random float in [0, 1), drawn the first time and recorded for every replay."""
        return _recorded("random", _random.random, float)

    def uuid4(self) -> uuid.UUID:
        """A random UUID, drawn the first time and recorded for every replay."""
        return _recorded("uuid4", uuid.uuid4, uuid.UUID)

    # -- context ----------------------------------------------------------------------------

    @property
    def workflow_id(self) -> str:
        return current_run().task.workflow_id

    @property
    def workflow_name(self) -> str:
        return current_run().task.workflow_name

    @property
    def method_name(self) -> str:
        return current_run().run.method_name

    @property
    def method_run_id(self) -> str:
        return current_run().run.method_run_id

    @property
    def tags(self) -> frozenset[str]:
        return current_run().task.tags

    @property
    def meta(self) -> dict[str, bytes]:
        return current_run().task.meta
