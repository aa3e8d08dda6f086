"""Handles on dispatched work: an id, a blocking `result()`, and `await handle`."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Generator
from typing import Any, Generic, TypeVar

from .. import errors
from ..common.runtime import on_a_loop_thread

T = TypeVar("T")


class TaskHandle(Generic[T]):
    """A dispatched task: `.id`, `.result(timeout)`, and awaitable in asyncio code."""

    __slots__ = ("_future", "_deadline", "id", "name")

    def __init__(
        self,
        id: str,
        name: str,
        future: concurrent.futures.Future[T],
        deadline: float | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self._future = future
        self._deadline = deadline

    def result(self, timeout: float | None = None) -> T:
        """Waits for the result; raises TaskFailedError, or TimeoutError after `timeout` seconds
        (default: the interface's @timeout, else no limit). The task itself goes on."""
        limit = timeout if timeout is not None else self._deadline
        if not self._future.done() and on_a_loop_thread():
            raise RuntimeError(
                f"waiting for {self.name} here would block the event loop that must deliver "
                "it (an `async def` task runs on it): `await` the handle instead, and the "
                "awaitable forms of the other client calls: `await client.wait_async(stub)`, "
                "`await client.get_ids_by_tag_async(Interface, tag)`"
            )
        try:
            return self._future.result(limit)
        except concurrent.futures.TimeoutError:
            raise errors.TimeoutError(
                f"no result for {self.name} ({self.id}) within {limit:g}s"
            ) from None

    def done(self) -> bool:
        return self._future.done()

    def __await__(self) -> Generator[Any, None, T]:
        wrapped = asyncio.wrap_future(self._future)
        if self._deadline is None:
            return wrapped.__await__()
        return self._await_with_deadline(wrapped).__await__()

    async def _await_with_deadline(self, wrapped: asyncio.Future[T]) -> T:
        try:
            return await asyncio.wait_for(asyncio.shield(wrapped), self._deadline)
        except asyncio.TimeoutError:
            raise errors.TimeoutError(
                f"no result for {self.name} ({self.id}) within {self._deadline:g}s"
            ) from None

    def __repr__(self) -> str:
        state = "done" if self._future.done() else "pending"
        return f"<TaskHandle {self.name} {self.id} {state}>"
