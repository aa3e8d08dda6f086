"""The MySQL storage's connections: a pool of threads, each owning one connection, serving a
shared queue; a lost connection is reopened and its batch run again until
``retry_timeout_seconds`` have passed."""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import MySQLdb

from ...errors import StorageError
from .._batching import Outcome as _Outcome
from .._batching import Stop, refuse_queued, serve
from ..base import Storage, not_started
from ._sql import (
    _ACCESS_DENIED,
    _CONNECTION_ERRORS,
    _DB_ACCESS_DENIED,
    _TRANSIENT_ERRORS,
    _UNKNOWN_DATABASE,
    _close_quietly,
    _errno,
    _is_lost,
)

logger = logging.getLogger("infinitic.storage.mysql")


@dataclass
class MySQLStats:
    """Counters for tests and benchmarks (approximate: several threads update them)."""

    transactions: int = 0  # write transactions committed
    writes: int = 0  # write operations that went through those transactions
    largest_batch: int = 0  # most operations served by one batch
    read_queries: int = 0  # SELECT ... IN (...) issued for get/get_many
    reads: int = 0  # get/get_many operations served
    reconnects: int = 0  # connections re-opened after a loss
    retried_batches: int = 0  # batches run again after a lost connection, deadlock or timeout
    unsure_commits: int = 0  # writes whose COMMIT was lost, checked by their write_id


class _Op:
    __slots__ = ("kind", "args", "future", "loop", "unsure")

    def __init__(
        self,
        kind: str,
        args: Any,
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.kind = kind  # get, write, sadd, srem, sget, purge, call
        self.args = args
        self.future = future
        self.loop = loop
        self.unsure = False  # a COMMIT carrying this write was lost: check before re-applying


class _Lost(Exception):
    """The connection was lost; `committing` when it happened during COMMIT."""

    def __init__(self, cause: BaseException, committing: bool = False) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.committing = committing


class _Transient(Exception):
    """A deadlock or lock wait timeout: the transaction was (or must be) rolled back."""


class _Unsure(Exception):
    """The result of an earlier COMMIT cannot be told: raised to the caller as StorageError."""


class _Slot:
    """One pool thread's connection (None while disconnected)."""

    __slots__ = ("conn",)

    def __init__(self, conn: Any) -> None:
        self.conn = conn


class _Pool(Storage):
    """The connections and threads of `MySQLStorage` (which sets these attributes)."""

    host: str
    port: int
    user: str
    _password: str
    database: str
    unix_socket: str | None
    pool_size: int
    timeout_seconds: float
    retry_timeout_seconds: float
    max_batch: int
    stats: MySQLStats
    _state: str
    _lifecycle: asyncio.Lock
    _queue: queue.SimpleQueue[list[_Op] | list[Stop]]
    _pending: dict[asyncio.AbstractEventLoop, list[_Op]]
    _threads: list[threading.Thread]
    _closing: threading.Event

    def _setup_schema(self, conn: Any) -> None:
        raise NotImplementedError

    def _run_once(self, conn: Any, batch: list[_Op]) -> list[_Outcome]:
        raise NotImplementedError

    @property
    def where(self) -> str:
        """user@host:port/database (never the password), for messages."""
        place = self.unix_socket or f"{self.host}:{self.port}"
        return f"{self.user}@{place}/{self.database}"

    def _error(self, what: str, exc: BaseException | None = None) -> StorageError:
        message = f"mysql storage {self.where}: {what}"
        if exc is not None:
            detail = f"{type(exc).__name__}: {exc}"
            if self._password:
                detail = detail.replace(self._password, "***")
            message += f" ({detail})"
        error = StorageError(message)
        if exc is not None:
            error.__cause__ = exc
        return error

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._lifecycle:
            if self._state == "started":
                return
            self._closing.clear()
            conns = await asyncio.to_thread(self._open_pool)
            self._queue = queue.SimpleQueue()
            self._threads = []
            for i, conn in enumerate(conns):
                thread = threading.Thread(
                    target=self._serve,
                    args=(self._queue, _Slot(conn)),
                    name=f"infinitic-mysql-{i}:{self.where}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
            self._state = "started"
            logger.debug("mysql storage started on %s (%d connections)", self.where, len(conns))

    async def close(self) -> None:
        async with self._lifecycle:
            if self._state != "started":
                return
            self._state = "closing"
            self._closing.set()  # a thread waiting for the server gives up
            loop = asyncio.get_running_loop()
            for pending_loop in list(self._pending):
                self._flush(pending_loop)
            stops: list[asyncio.Future[Any]] = []
            for _ in self._threads:  # after every accepted operation: they are served first
                stop: asyncio.Future[Any] = loop.create_future()
                self._queue.put([Stop(stop, loop)])
                stops.append(stop)
            await asyncio.gather(*stops)
            for thread in self._threads:
                thread.join()
            self._threads = []
            self._state = "closed"
            refuse_queued(self._queue, not_started(self, "closed"))
            logger.debug("mysql storage closed on %s", self.where)

    def _connect(self) -> Any:
        kwargs: dict[str, Any] = {
            "user": self.user,
            "password": self._password,
            "database": self.database,
            "charset": "utf8mb4",
            "autocommit": True,
            "connect_timeout": max(1, round(self.timeout_seconds)),
            "read_timeout": max(1, round(self.timeout_seconds)),
            "write_timeout": max(1, round(self.timeout_seconds)),
        }
        if self.unix_socket:
            kwargs["unix_socket"] = self.unix_socket
        else:
            kwargs["host"] = self.host
            kwargs["port"] = self.port
        conn = MySQLdb.connect(**kwargs)
        try:
            lock_wait = max(1, int(self.timeout_seconds / 2))
            conn.query(b"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            conn.query(
                b"SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', "
                b"innodb_lock_wait_timeout = " + str(lock_wait).encode()
            )
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_at_start(self, deadline: float) -> Any:
        delay = 0.05
        while True:
            try:
                return self._connect()
            except MySQLdb.Error as exc:
                code = _errno(exc)
                if code == _ACCESS_DENIED:
                    raise self._error(
                        f"access denied for user {self.user!r}: check the user and password", exc
                    ) from None
                if code == _UNKNOWN_DATABASE:
                    raise self._error(
                        f"database {self.database!r} does not exist: create it first "
                        f"(CREATE DATABASE `{self.database}`)",
                        exc,
                    ) from None
                if code == _DB_ACCESS_DENIED:
                    raise self._error(
                        f"user {self.user!r} may not use database {self.database!r} "
                        "(it does not exist, or the user has no privilege on it)",
                        exc,
                    ) from None
                if code not in _CONNECTION_ERRORS or time.monotonic() + delay > deadline:
                    raise self._error("cannot connect", exc) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _open_pool(self) -> list[Any]:
        deadline = time.monotonic() + self.retry_timeout_seconds
        conns: list[Any] = []
        try:
            conns.append(self._connect_at_start(deadline))
            self._setup_schema(conns[0])
            for _ in range(self.pool_size - 1):
                conns.append(self._connect_at_start(deadline))
        except BaseException:
            for conn in conns:
                conn.close()
            raise
        return conns

    # --- the pool threads ------------------------------------------------------------------

    def _serve(self, q: queue.SimpleQueue[list[_Op] | list[Stop]], slot: _Slot) -> None:
        def close() -> None:
            if slot.conn is not None:
                slot.conn.close()
                slot.conn = None

        serve(
            q,
            self.max_batch,
            functools.partial(self._run, slot),
            lambda exc: self._error("internal error", exc),
            logger,
            f"mysql storage {self.where}",
            close,
        )

    def _run(self, slot: _Slot, batch: list[_Op]) -> list[_Outcome]:
        """Run a batch, reconnecting and retrying while the server is unreachable."""
        stats = self.stats
        stats.largest_batch = max(stats.largest_batch, len(batch))
        deadline: float | None = None
        delay = 0.05
        transient = 0
        while True:
            try:
                if slot.conn is None:
                    try:
                        slot.conn = self._connect()
                    except MySQLdb.Error as exc:
                        if not _is_lost(exc):
                            error = self._error("cannot reconnect", exc)
                            return [(error, None)] * len(batch)
                        raise _Lost(exc) from exc
                    stats.reconnects += 1
                    logger.info("mysql storage %s: reconnected", self.where)
                try:
                    return self._run_once(slot.conn, batch)
                except MySQLdb.Error as exc:
                    self._reraise_if_retryable(exc)
                    raise
            except _Lost as exc:
                if exc.committing:
                    for op in batch:
                        if op.kind == "write":
                            op.unsure = True
                if slot.conn is not None:
                    _close_quietly(slot.conn)
                    slot.conn = None
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.retry_timeout_seconds
                    logger.warning(
                        "mysql storage %s: connection lost (%s); retrying for up to %gs",
                        self.where,
                        exc.cause,
                        self.retry_timeout_seconds,
                    )
                if self._closing.is_set():
                    error = self._error("closed while the server was unreachable", exc.cause)
                    return [(error, None)] * len(batch)
                if now >= deadline:
                    error = self._error(
                        f"the server is unreachable: gave up after "
                        f"{self.retry_timeout_seconds:g}s of retries",
                        exc.cause,
                    )
                    return [(error, None)] * len(batch)
                stats.retried_batches += 1
                self._closing.wait(min(delay * (0.5 + random.random()), deadline - now))
                delay = min(delay * 2, 1.0)
            except _Transient as exc:
                transient += 1
                stats.retried_batches += 1
                if transient > 20:
                    error = self._error("gave up after repeated deadlocks", exc)
                    return [(error, None)] * len(batch)
                time.sleep(0.002 * transient * random.random())

    def _reraise_if_retryable(self, exc: MySQLdb.Error, committing: bool = False) -> None:
        if _is_lost(exc):
            raise _Lost(exc, committing) from exc
        if _errno(exc) in _TRANSIENT_ERRORS:
            raise _Transient(str(exc)) from exc

    # --- submission ------------------------------------------------------------------------

    async def _submit(self, kind: str, args: Any) -> Any:
        if self._state != "started":
            raise not_started(self, self._state)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:  # the first of this loop iteration: hand them over at its end
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append(_Op(kind, args, future, loop))
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Queue what `loop` submitted meanwhile, in batches of at most `max_batch`."""
        ops = self._pending.pop(loop, None)
        if ops:
            size = self.max_batch
            for start in range(0, len(ops), size):
                self._queue.put(ops[start : start + size])

    async def _call(self, fn: Callable[[Any], Any]) -> Any:
        """Run `fn(connection)` on a pool thread (tests, maintenance)."""
        return await self._submit("call", fn)
