"""The Redis storage's command path: pipelined RESP over asyncio protocols, parsed by hiredis.

redis-py's asyncio client spends most of a storage call in its own Python (a connection taken
from the pool and given back, a timeout context and a retry wrapper per command, stream reads,
response callbacks): profiled on a Pulsar + Redis worker, over a third of the event loop's time.
Here a command costs one `hiredis.pack_command` and one future: every command issued during one
turn of the event loop goes out in one write, and each reply chunk the server sends answers all
the commands it completes, in order. redis-py stays in use for the storage's start (handshake
errors, schema, scripts).

Up to `width` connections: a command goes to the open connection with the fewest replies due,
and another opens (in the background) while every open one has `SPREAD` or more due. Errors are
redis-py's classes, so the storage's retry logic is unchanged: a Redis error answers its own
command (`ResponseError`, `NoScriptError`, ...); a lost connection answers every command due on
it (`ConnectionError`), as does a reply overdue by `timeout` seconds (`TimeoutError`, and the
connection is closed, its reply stream being out of step).
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections import deque
from typing import Any

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

try:  # redis-py's mapping of an error reply to its exception class (NOSCRIPT, WRONGPASS, ...)
    from redis._parsers.base import BaseParser

    _parse_error: Any = BaseParser.parse_error
except ImportError:  # pragma: no cover - another redis-py layout: the generic class
    _parse_error = ResponseError

__all__ = ["RedisWire"]

CLOSE_WAIT = 2.0  # seconds a closing connection gets to close its socket, then it is aborted
SPREAD = 32  # replies due on every open connection before another one opens


class _Connection(asyncio.Protocol):
    def __init__(self, wire: RedisWire) -> None:
        self.wire = wire
        self.reader = hiredis.Reader(notEnoughData=False)
        self.due: deque[asyncio.Future[Any]] = deque()
        self.out: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.last = 0.0  # loop time of the last reply (or of the first command after none due)
        self.timer: asyncio.TimerHandle | None = None
        self.lost: asyncio.Future[None] = wire.loop.create_future()  # its socket is closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.wire.connected.add(self)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        due = self.due
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.abort(RedisConnectionError(f"redis protocol error: {exc}"))
                return
            if reply is False:
                break
            if not due:  # a reply nothing asked for: the stream is out of step
                self.abort(RedisConnectionError(f"unexpected reply from {self.wire.address}"))
                return
            future = due.popleft()
            if future.done():  # its caller was cancelled
                continue
            if type(reply) is hiredis.ReplyError:
                future.set_exception(_parse_error(str(reply)))
            else:
                future.set_result(reply)
        self.last = self.wire.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc}" if exc else ""
        self.fail(RedisConnectionError(f"Connection to {self.wire.address} lost{reason}"))
        self.wire.connected.discard(self)
        if not self.lost.done():
            self.lost.set_result(None)

    def send(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        future = self.wire.loop.create_future()
        if self.closed:  # lost already (e.g. killed between its connect and its handshake)
            future.set_exception(RedisConnectionError(f"Connection to {self.wire.address} lost"))
            return future
        if not self.due:
            self.last = self.wire.loop.time()
            if self.timer is None:
                self.timer = self.wire.loop.call_at(self.last + self.wire.timeout, self._check)
        self.due.append(future)
        self.out.append(hiredis.pack_command(args))
        return future

    def flush(self) -> None:
        if self.out and self.transport is not None and not self.closed:
            data = self.out[0] if len(self.out) == 1 else b"".join(self.out)
            self.out.clear()
            self.transport.write(data)

    def _check(self) -> None:
        self.timer = None
        if not self.due or self.closed:
            return
        overdue_at = self.last + self.wire.timeout
        if self.wire.loop.time() >= overdue_at:
            self.abort(
                RedisTimeoutError(
                    f"Timeout reading from {self.wire.address}: no reply in {self.wire.timeout:g} s"
                )
            )
        else:
            self.timer = self.wire.loop.call_at(overdue_at, self._check)

    def abort(self, error: Exception) -> None:
        self.fail(error)
        if self.transport is not None:
            self.transport.abort()

    def fail(self, error: Exception) -> None:
        """Every command due gets `error`; the connection takes no more."""
        if not self.closed:
            self.closed = True
            self.wire.forget(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.out.clear()
        while self.due:
            future = self.due.popleft()
            if not future.done():
                future.set_exception(error)


class RedisWire:
    """Pipelined commands to one Redis server; `execute(*args)` returns the raw reply."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        database: int,
        ssl: bool,
        ssl_ca_certs: str | None,
        client_name: str,
        timeout: float,
        width: int,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.address = f"{host}:{port}"
        self.timeout = timeout
        self._host, self._port = host, port
        self._width = width
        self._ssl: ssl_module.SSLContext | None = None
        if ssl:
            self._ssl = ssl_module.create_default_context(cafile=ssl_ca_certs)
        self._hello: list[tuple[Any, ...]] = []
        if username or password:  # as redis-py: no AUTH for an empty password alone
            self._hello.append(
                ("AUTH", username, password or "") if username else ("AUTH", password)
            )
        if database:
            self._hello.append(("SELECT", database))
        self._hello.append(("CLIENT", "SETNAME", client_name))
        self._open: list[_Connection] = []
        self._opening: asyncio.Task[None] | None = None
        self._dirty: list[_Connection] = []
        self._closed = False
        # every connection whose socket is not closed yet, the handshaking and failed included
        self.connected: set[_Connection] = set()

    async def execute(self, *args: Any) -> Any:
        conn = self._pick()
        if conn is None:
            conn = await self._first()
        future = conn.send(args)
        if len(conn.out) == 1:  # its first command of this turn: written at the turn's end
            if not self._dirty:
                self.loop.call_soon(self._flush)
            self._dirty.append(conn)
        return await future

    def _pick(self) -> _Connection | None:
        open_ = self._open
        if not open_:
            return None
        conn = open_[0]
        if len(open_) > 1:
            conn = min(open_, key=_due)
        if (
            len(conn.due) >= SPREAD
            and len(open_) < self._width
            and self._opening is None
            and not self._closed
        ):
            self._opening = self.loop.create_task(self._connect_in_background())
        return conn

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush()

    async def _first(self) -> _Connection:
        """A connection when none is open: opened here (or by whoever is already opening)."""
        while True:
            if self._closed:
                raise RedisConnectionError(f"Connection to {self.address} closed")
            if self._open:
                return self._open[0]
            if self._opening is None:
                self._opening = self.loop.create_task(self._connect())
            try:
                await asyncio.shield(self._opening)
            finally:
                if self._opening is not None and self._opening.done():
                    self._opening = None

    async def _connect_in_background(self) -> None:
        try:
            await self._connect()
        except Exception:  # noqa: BLE001,S110 - the open connections carry on meanwhile
            pass
        finally:
            self._opening = None

    async def _connect(self) -> None:
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: _Connection(self),
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl else None,
                ),
                self.timeout,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise RedisConnectionError(
                f"Error connecting to {self.address}: {exc or type(exc).__name__}"
            ) from None
        replies = [conn.send(command) for command in self._hello]
        conn.flush()
        try:
            # every reply awaited (each fails with the connection), so no error goes unread
            answers = await asyncio.gather(*replies, return_exceptions=True)
        except BaseException:
            conn.abort(RedisConnectionError(f"Connection to {self.address} closed"))
            raise
        for answer in answers:
            if isinstance(answer, BaseException):
                conn.abort(RedisConnectionError(f"Connection to {self.address} closed"))
                raise answer
        if self._closed:
            conn.abort(RedisConnectionError(f"Connection to {self.address} closed"))
            return
        self._open.append(conn)

    def forget(self, conn: _Connection) -> None:
        if conn in self._open:
            self._open.remove(conn)

    async def drain(self) -> None:
        """Wait for every command sent to be answered (or failed)."""
        due = [f for conn in self._open for f in conn.due]
        if due:
            await asyncio.gather(*due, return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        self._closed = True
        if self._opening is not None:
            self._opening.cancel()
        live = list(self.connected)
        for conn in live:
            conn.fail(RedisConnectionError(f"Connection to {self.address} closed"))
            if conn.transport is not None:
                conn.transport.close()
        # closed once their sockets are: a TLS one says goodbye first, and an event loop closed
        # on a socket still open fails ("Event loop is closed", uvloop's EBUSY)
        if live:
            await asyncio.wait([c.lost for c in live], timeout=min(self.timeout, CLOSE_WAIT))
            late = [c for c in live if not c.lost.done()]
            for conn in late:
                if conn.transport is not None:
                    conn.transport.abort()
            if late:
                await asyncio.wait([c.lost for c in late], timeout=CLOSE_WAIT)


def _due(conn: _Connection) -> int:
    return len(conn.due)
