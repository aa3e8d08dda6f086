"""Automatic pipelining for the Redis storage: concurrent commands share round trips.

Commands issued during one turn of the event loop are queued and sent together as one
non-transactional pipeline (one write, one read of all the replies) on one pooled connection;
up to `width` pipelines are in flight at once (one per pooled connection), and commands issued
meanwhile wait for the next one. A single command goes alone, without the pipeline's overhead.
Each caller gets its own reply or error: a Redis error answers only its command, a connection
error answers every command of the batch (the storage retries them).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

__all__ = ["Pipeliner"]

_Item = tuple[tuple[Any, ...], "asyncio.Future[Any]"]


class Pipeliner:
    def __init__(self, client: Redis, width: int, max_batch: int = 512) -> None:
        self._client = client
        self._width = width
        self._max_batch = max_batch
        self._pending: list[_Item] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def execute(self, *args: Any) -> Any:
        if not self._in_flight and not self._pending:  # alone: no need to wait for company
            self._in_flight += 1
            try:
                return await self._client.execute_command(*args)  # type: ignore[no-untyped-call]
            finally:
                self._in_flight -= 1
                if self._pending:
                    self._schedule(asyncio.get_running_loop())
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((args, future))
        self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._scheduled and self._in_flight < self._width:
            self._scheduled = True
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending and self._in_flight < self._width:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            batch = [item for item in batch if not item[1].done()]  # drop cancelled callers
            if not batch:
                continue
            self._in_flight += 1
            task = asyncio.ensure_future(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Item]) -> None:
        try:
            if len(batch) == 1:
                args, future = batch[0]
                try:
                    result = await self._client.execute_command(*args)  # type: ignore[no-untyped-call]
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(result)
                return
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for args, _ in batch:
                        pipe.execute_command(*args)
                    results = await pipe.execute(raise_on_error=False)
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            self._in_flight -= 1
            if self._pending:
                self._schedule(asyncio.get_running_loop())

    async def drain(self) -> None:
        """Wait for the pipelines in flight (and those they start) to finish."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
