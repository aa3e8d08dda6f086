"""`async def` workflow methods, run on a deterministic event loop that the replay drives.

A workflow's awaits are durable steps, decided by its history, not by I/O: awaiting a Deferred
(a stub call, a dispatch, `all_of`/`any_of`, a timer, a `receive()`) is the same step as
`deferred.result()`, taken synchronously inside the coroutine. So the driver sends into the
coroutine once and it runs to its end, or stops at the first undecided step exactly as a sync
method does (the replay's `_Suspend`, or a live run's wait). Anything else that awaits (an
`asyncio.sleep`, a socket, `asyncio.gather`, a task) would make the run depend on real time and
I/O: while the coroutine runs, the running loop is a `WorkflowLoop`, which refuses every
operation with an error that says what to use instead.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from ..errors import InfiniticError

REFUSED = (
    "workflow code is replayed from its history, so it cannot await real time or I/O "
    "({what}). Await what the workflow API returns instead: a stub call, a Deferred from "
    "self.dispatch(...), all_of(...)/any_of(...) instead of asyncio.gather/wait, "
    "self.timer(...) instead of asyncio.sleep, a channel's receive(); put I/O in a service task"
)


class WorkflowAwaitError(InfiniticError, RuntimeError):
    """An `async def` workflow method awaited something the replay cannot reproduce."""


def _refuse(what: str) -> NoReturn:
    raise WorkflowAwaitError(REFUSED.format(what=what))


def _refusing(name: str) -> Callable[..., NoReturn]:
    def method(self: object, *args: Any, **kwargs: Any) -> NoReturn:
        for arg in args:
            if inspect.iscoroutine(arg):
                arg.close()  # refused, not forgotten: no "coroutine was never awaited" warning
        _refuse(f"the event loop's {name}()")

    method.__name__ = name
    return method


def _loop_class() -> type[asyncio.AbstractEventLoop]:
    """The running loop seen by workflow code: every scheduling or I/O operation is refused
    (asyncio.sleep, futures and tasks reach the loop through create_future, create_task and the
    call_* methods first)."""
    namespace: dict[str, Any] = {
        name: _refusing(name)
        for name, value in vars(asyncio.AbstractEventLoop).items()
        if callable(value) and not name.startswith("_")
    }
    namespace.update(
        is_running=lambda self: True,
        is_closed=lambda self: False,
        get_debug=lambda self: False,
        __repr__=lambda self: "<infinitic workflow loop (deterministic, no I/O)>",
    )
    return type("WorkflowLoop", (asyncio.AbstractEventLoop,), namespace)


_LOOP = _loop_class()()


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """Runs a workflow method's coroutine to its end; returns its value or raises."""
    previous = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(_LOOP)
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return stop.value
    finally:
        asyncio.events._set_running_loop(previous)
    # a Deferred never yields: this came from some other awaitable (asyncio.sleep(0) yields)
    coro.close()
    _refuse(f"it awaited an object that yielded {yielded!r} to the event loop")


def is_coroutine(value: object) -> bool:
    return inspect.iscoroutine(value)


def check_method(kind: str, owner: str, attribute: str, fn: object) -> str | None:
    """Why `fn` cannot be a task or workflow method (a ConfigError at worker start), else None:
    it must return one value, so a generator cannot be one."""
    if inspect.isasyncgenfunction(fn):
        return (
            f"{kind} {owner}: method {attribute} is an async generator (async def with yield); "
            f"a {kind} method returns one value: use `async def` without yield"
        )
    if inspect.isgeneratorfunction(fn):
        return (
            f"{kind} {owner}: method {attribute} is a generator (def with yield); a {kind} "
            "method returns one value: return a list instead"
        )
    return None


def check_sync_hook(owner: str, hook: str, fn: object) -> str | None:
    """Why a policy hook the worker calls synchronously cannot be `fn`, else None."""
    if inspect.iscoroutinefunction(fn):
        return (
            f"service {owner}: {hook} is `async def`, but the worker calls it synchronously "
            "(it decides a timeout or a retry delay from the task's context): make it a plain def"
        )
    return None
