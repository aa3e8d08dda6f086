"""MySQL / MariaDB storage with mysqlclient (``MySQLdb``), no ORM.

The driver is blocking, so a bounded pool of ``pool_size`` threads, each owning one connection,
serves a shared queue: async callers enqueue an operation and await a future. A thread takes
everything queued (up to ``max_batch``), runs the key lookups of the batch as one
``SELECT ... WHERE key_hash IN (...)`` and the writes in ONE transaction (each compare-and-set
checked on its own: a conflicting `put` fails alone, a conflicting `put_many` is rolled back to a
savepoint), commits once and resolves the futures on their loops. When the connection is lost,
the batch is retried with backoff on a new connection until ``retry_timeout_seconds`` have
passed; a write whose COMMIT may or may not have reached the server is checked by the random
``write_id`` it stored, so it is neither lost nor applied twice. See docs/storage.md.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import MySQLdb

from ..errors import ConfigError, StorageError, VersionConflictError
from ._batching import Outcome as _Outcome
from ._batching import Stop, refuse_queued, serve
from ._mysql_index import IndexTables
from .base import (
    Clock,
    IndexEntry,
    IndexPage,
    IndexQuery,
    Storage,
    Write,
    check_expected,
    check_key,
    check_member,
    check_ttl,
    check_value,
    not_started,
    version_conflict,
)

__all__ = ["SCHEMA_VERSION", "MySQLStats", "MySQLStorage", "from_config"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: the workflow index tables (_mysql_index.py)
IN_CHUNK = 500  # keys per SELECT ... IN (...)
PURGE_CHUNK = 5000  # rows per DELETE of purge_expired (each in its own transaction)
_PACKET_MARGIN = 1024  # bytes kept below max_allowed_packet for the protocol header

# errno of the MySQL/MariaDB errors that mean "the connection is gone (or the server is going)":
# 1040 too many connections, 1053/1077 server shutdown, 1152 aborted connection, 1317 query
# interrupted (killed at shutdown), 1927 connection killed, 2002/2003 cannot connect, 2006 server
# gone away, 2013/2055 lost connection during a query, 2026 SSL error, 4031 idle disconnection
_CONNECTION_ERRORS = frozenset({1040, 1053, 1077, 1152, 1317, 1927, 2002, 2003, 2006, 2013})
_CONNECTION_ERRORS |= {2026, 2055, 4031}
_TRANSIENT_ERRORS = frozenset({1205, 1213})  # lock wait timeout, deadlock: rerun the batch
_ACCESS_DENIED = 1045
_DB_ACCESS_DENIED = 1044
_UNKNOWN_DATABASE = 1049

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")


# --- configuration ------------------------------------------------------------------------------

# the configuration options (camelCase, as in Infinitic's YAML; snake_case accepted too)
_NAMES = "host port user password database poolSize tablePrefix keyValueTable keySetTable "
_NAMES += "schemaTable createTables timeoutSeconds retryTimeoutSeconds maxBatch maxValueBytes"
# constructor argument -> option name (used in error messages)
_CONFIG_NAME = {re.sub("([A-Z])", r"_\1", n).lower(): n for n in _NAMES.split()}
_CONFIG_NAME["unix_socket"] = "socket"
# option (or alias) -> constructor argument
_OPTIONS = {n: a for a, n in _CONFIG_NAME.items()} | {a: a for a in _CONFIG_NAME}
_OPTIONS |= {"username": "user", "unixSocket": "unix_socket"}
_KEY = "storage.mysql"


def from_config(options: Mapping[str, Any], *, clock: Clock | None = None) -> MySQLStorage:
    """The (not yet started) storage of a ``storage: {mysql: {...}}`` configuration entry."""
    kwargs: dict[str, Any] = {}
    for option, value in options.items():
        argument = _OPTIONS.get(str(option))
        if argument is None:
            raise ConfigError(
                f"{_KEY}.{option}: unknown option; expected one of "
                f"{', '.join(sorted(_CONFIG_NAME.values()))}"
            )
        if argument in kwargs:
            raise ConfigError(f"{_KEY}.{option}: {_CONFIG_NAME[argument]} is given twice")
        kwargs[argument] = value
    if "database" not in kwargs:
        raise ConfigError(f"{_KEY}.database is required (the name of an existing database)")
    return MySQLStorage(clock=clock, **kwargs)


def _bad(argument: str, what: str, value: object) -> ConfigError:
    shown = "***" if argument == "password" else repr(value)
    return ConfigError(f"{_KEY}.{_CONFIG_NAME[argument]} must be {what}, not {shown}")


def _number(argument: str, value: object, *, minimum: float, strict: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        number = float(value)  # type: ignore[arg-type]
        ok = number > minimum if strict else number >= minimum
        ok = ok and number != float("inf")
    if not ok:
        sign = ">" if strict else ">="
        raise _bad(argument, f"a number of seconds {sign} {minimum:g}", value)
    return float(value)  # type: ignore[arg-type]


def _int(argument: str, value: object, minimum: int, maximum: int = 2**31) -> int:
    if type(value) is not int or not (minimum <= value <= maximum):
        raise _bad(argument, f"an int between {minimum} and {maximum}", value)
    return value


def _table(argument: str, name: object) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise _bad(argument, "a table name of 1-64 letters, digits, _ or $", name)
    return name


# --- stats and queued operations ----------------------------------------------------------------


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


class _WriteArgs:
    __slots__ = ("writes", "expires_at", "now", "write_id", "index")

    def __init__(
        self,
        writes: list[tuple[str, bytes, bytes, bytes | None, int]],
        expires_at: float | None,
        now: float,
        index: IndexEntry | None = None,
    ) -> None:
        self.writes = writes  # (key, key_hash, key_bytes, value, expected)
        self.expires_at = expires_at
        self.now = now
        self.index = index
        self.write_id = os.urandom(8)  # tags the rows this operation writes

    def versions(self) -> list[int]:
        return [0 if value is None else expected + 1 for _, _, _, value, expected in self.writes]


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


def _hash(text: str) -> tuple[bytes, bytes]:
    raw = text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).digest(), raw


def _is_lost(exc: BaseException) -> bool:
    return _errno(exc) in _CONNECTION_ERRORS or isinstance(exc, MySQLdb.InterfaceError)


def _errno(exc: BaseException) -> int:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else 0


class _Slot:
    """One pool thread's connection (None while disconnected)."""

    __slots__ = ("conn",)

    def __init__(self, conn: Any) -> None:
        self.conn = conn


class MySQLStorage(Storage):
    """`Storage` on MySQL 5.7+/8 or MariaDB 10.3+ (InnoDB), through a pool of blocking connections.

    Args:
        database: an existing database (schema); required.
        host, port, user, password: where and as whom to connect (``host="localhost"`` means
            the unix socket to the driver; use ``127.0.0.1`` for TCP), or ``unix_socket``.
        pool_size: connections, each served by its own thread (default 4).
        table_prefix: prefix of the three table names (default ``"infinitic_"``), so two apps
            can share a database; ``key_value_table``, ``key_set_table`` and ``schema_table``
            name the tables one by one instead.
        create_tables: create missing tables at `start` (else `start` fails when they are missing).
        timeout_seconds: connect / read / write timeout of each statement (default 30).
        retry_timeout_seconds: how long an operation keeps retrying, with backoff, while the
            server is unreachable before it raises `StorageError` (default 60).
        max_batch: most queued operations one thread takes at a time (default 500).
        max_value_bytes: refuse larger values with `StorageError` (default: whatever fits the
            server's ``max_allowed_packet``, which is always enforced).
        clock: wall-clock time source for expiry (``time.time``); inject one in tests.
    """

    backend = "mysql"

    def __init__(
        self,
        *,
        database: str,
        host: str = "127.0.0.1",
        port: int = 3306,
        user: str = "root",
        password: str = "",
        unix_socket: str | None = None,
        pool_size: int = 4,
        table_prefix: str = "infinitic_",
        key_value_table: str | None = None,
        key_set_table: str | None = None,
        schema_table: str | None = None,
        create_tables: bool = True,
        timeout_seconds: float = 30.0,
        retry_timeout_seconds: float = 60.0,
        max_batch: int = 500,
        max_value_bytes: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        for argument, value in (("host", host), ("user", user), ("database", database)):
            if not isinstance(value, str) or not value:
                raise _bad(argument, "a non-empty string", value)
        if not isinstance(password, str):
            raise _bad("password", "a string", password)
        if unix_socket is not None and (not isinstance(unix_socket, str) or not unix_socket):
            raise _bad("unix_socket", "a socket path", unix_socket)
        if not isinstance(table_prefix, str) or not re.match(
            r"^[A-Za-z0-9_$]{0,40}$", table_prefix
        ):
            raise _bad("table_prefix", "up to 40 letters, digits, _ or $", table_prefix)
        if not isinstance(create_tables, bool):
            raise _bad("create_tables", "true or false", create_tables)
        self.host = host
        self.port = _int("port", port, 1, 65535)
        self.user = user
        self._password = password
        self.database = database
        self.unix_socket = unix_socket
        self.pool_size = _int("pool_size", pool_size, 1, 256)
        self.kv_table = _table(
            "key_value_table", key_value_table or f"{table_prefix}key_value_storage"
        )
        self.set_table = _table("key_set_table", key_set_table or f"{table_prefix}key_set_storage")
        self.schema_table = _table("schema_table", schema_table or f"{table_prefix}schema_version")
        if len({self.kv_table, self.set_table, self.schema_table}) != 3:
            raise ConfigError(f"{_KEY}: keyValueTable, keySetTable and schemaTable must differ")
        self.create_tables = create_tables
        self.timeout_seconds = _number("timeout_seconds", timeout_seconds, minimum=0, strict=True)
        self.retry_timeout_seconds = _number(
            "retry_timeout_seconds", retry_timeout_seconds, minimum=0, strict=False
        )
        self.max_batch = _int("max_batch", max_batch, 1, 100_000)
        self.max_value_bytes = (
            None if max_value_bytes is None else _int("max_value_bytes", max_value_bytes, 1, 2**62)
        )
        self._clock: Clock = clock or time.time
        self.stats = MySQLStats()
        self.max_allowed_packet = 0  # the server's, read at start
        self._state = "new"
        self._lifecycle = asyncio.Lock()
        # each item: the operations one event-loop iteration submitted (or one stop)
        self._queue: queue.SimpleQueue[list[_Op] | list[Stop]] = queue.SimpleQueue()
        self._pending: dict[asyncio.AbstractEventLoop, list[_Op]] = {}
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._sql = _Sql(self.kv_table, self.set_table)
        self._index = IndexTables(self.kv_table)

    @property
    def where(self) -> str:
        """user@host:port/database (never the password), for messages."""
        place = self.unix_socket or f"{self.host}:{self.port}"
        return f"{self.user}@{place}/{self.database}"

    def __repr__(self) -> str:
        return f"MySQLStorage({self.where!r}, table={self.kv_table!r}, state={self._state})"

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

    def _setup_schema(self, conn: Any) -> None:
        rows = _query(conn, b"SELECT @@max_allowed_packet")
        self.max_allowed_packet = int(rows[0][0])
        name = f"{self.database}.{self.schema_table}".encode()
        lock = "infinitic:" + hashlib.sha1(name).hexdigest()
        _query(conn, b"SELECT GET_LOCK(%s, 30)", lock)
        try:
            tables = {
                row[0].decode() if isinstance(row[0], bytes) else row[0]
                for row in _query(
                    conn,
                    b"SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    self.database,
                )
            }
            ours = {self.kv_table, self.set_table, self.schema_table}
            version: int | None = None
            if self.schema_table in tables:
                found = _query(
                    conn,
                    b"SELECT version FROM `" + self.schema_table.encode() + b"` "
                    b"WHERE component = 'storage'",
                )
                version = int(found[0][0]) if found else None
            if version is None:
                if tables & {self.kv_table, self.set_table}:
                    raise self._error(
                        f"table {self.kv_table} or {self.set_table} exists but carries no "
                        f"infinitic schema version (in {self.schema_table}); choose another "
                        "tablePrefix"
                    )
                if not self.create_tables:
                    raise self._error(
                        f"tables {', '.join(sorted(ours - tables))} are missing and "
                        "createTables is false"
                    )
                for statement in self._sql.schema(self.schema_table) + self._index.schema():
                    _query(conn, statement)
                _query(
                    conn,
                    b"INSERT INTO `" + self.schema_table.encode() + b"` (component, version) "
                    b"VALUES ('storage', %s) ON DUPLICATE KEY UPDATE component = component",
                    SCHEMA_VERSION,
                )
            elif version > SCHEMA_VERSION:
                raise self._error(
                    f"schema version {version} (in {self.schema_table}) is newer than the "
                    f"{SCHEMA_VERSION} this release knows; upgrade infinitic"
                )
            elif not {self.kv_table, self.set_table} <= tables:
                raise self._error(
                    f"schema version {version} is recorded in {self.schema_table} but "
                    f"{self.kv_table} or {self.set_table} is missing"
                )
            elif version < SCHEMA_VERSION:
                # 1 -> 2: the workflow index; instances saved before are not in it
                for statement in self._index.schema():
                    _query(conn, statement)
                _query(
                    conn,
                    b"UPDATE `" + self.schema_table.encode() + b"` SET version = %s "
                    b"WHERE component = 'storage'",
                    SCHEMA_VERSION,
                )
        except MySQLdb.Error as exc:
            raise self._error("cannot set up the tables", exc) from None
        finally:
            try:
                _query(conn, b"SELECT RELEASE_LOCK(%s)", lock)
            except MySQLdb.Error:
                pass

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

    def _run_once(self, conn: Any, batch: list[_Op]) -> list[_Outcome]:
        outcomes: list[_Outcome | None] = [None] * len(batch)
        gets = [i for i, op in enumerate(batch) if op.kind == "get"]
        if gets:
            self._run_gets(conn, batch, gets, outcomes)
        in_txn = [i for i, op in enumerate(batch) if op.kind in ("write", "sadd", "srem")]
        if in_txn:
            self._run_transaction(conn, batch, in_txn, outcomes)
        for i, op in enumerate(batch):
            if outcomes[i] is not None:
                continue
            try:
                if op.kind == "sget":
                    rows = _query(conn, self._sql.set_get, op.args)
                    outcomes[i] = (None, frozenset(_text(row[0]) for row in rows))
                elif op.kind == "purge":
                    outcomes[i] = (None, self._purge(conn, op.args))
                elif op.kind == "call":
                    outcomes[i] = (None, op.args(conn))
                else:  # pragma: no cover - every kind is handled above
                    raise AssertionError(op.kind)
            except MySQLdb.Error as exc:
                self._reraise_if_retryable(exc)
                outcomes[i] = (self._error("operation failed", exc), None)
            except StorageError as exc:
                outcomes[i] = (exc, None)
        return [outcome for outcome in outcomes if outcome is not None]

    def _reraise_if_retryable(self, exc: MySQLdb.Error, committing: bool = False) -> None:
        if _is_lost(exc):
            raise _Lost(exc, committing) from exc
        if _errno(exc) in _TRANSIENT_ERRORS:
            raise _Transient(str(exc)) from exc

    def _run_gets(
        self, conn: Any, batch: list[_Op], gets: list[int], outcomes: list[_Outcome | None]
    ) -> None:
        wanted: dict[bytes, None] = {}
        for i in gets:
            for _, key_hash in batch[i].args[0]:
                wanted[key_hash] = None
        rows: dict[bytes, tuple[bytes, int, float | None]] = {}
        hashes = list(wanted)
        try:
            for start in range(0, len(hashes), IN_CHUNK):
                chunk = hashes[start : start + IN_CHUNK]
                for key_hash, value, version, expires_at in _query(
                    conn, self._sql.get(len(chunk)), *chunk
                ):
                    rows[key_hash] = (value, version, expires_at)
                self.stats.read_queries += 1
        except MySQLdb.Error as exc:
            self._reraise_if_retryable(exc)
            error = self._error("read failed", exc)
            for i in gets:
                outcomes[i] = (error, None)
            return
        self.stats.reads += len(gets)
        for i in gets:
            keys, now = batch[i].args
            found: dict[str, tuple[bytes, int]] = {}
            for key, key_hash in keys:
                row = rows.get(key_hash)
                if row is not None and (row[2] is None or row[2] > now):
                    found[key] = (row[0], int(row[1]))
            outcomes[i] = (None, found)

    def _run_transaction(
        self, conn: Any, batch: list[_Op], indexes: list[int], outcomes: list[_Outcome | None]
    ) -> None:
        results: dict[int, _Outcome] = {}
        try:
            conn.query(b"START TRANSACTION")
            for i in indexes:
                op = batch[i]
                try:
                    if op.kind == "write":
                        results[i] = (None, self._write(conn, op))
                    elif op.kind == "sadd":
                        _query(conn, self._sql.set_add, *op.args)
                        results[i] = (None, None)
                    else:
                        _query(conn, self._sql.set_remove, *op.args[:2])
                        results[i] = (None, None)
                except (VersionConflictError, _Unsure) as exc:
                    results[i] = (exc, None)
                except StorageError as exc:  # too large: nothing was sent
                    results[i] = (exc, None)
                except MySQLdb.Error as exc:
                    self._reraise_if_retryable(exc)
                    results[i] = (self._error("write failed", exc), None)
        except BaseException:
            _rollback_quietly(conn)
            raise
        try:
            conn.commit()
        except MySQLdb.Error as exc:
            self._reraise_if_retryable(exc, committing=True)
            _rollback_quietly(conn)
            failed = self._error("commit failed", exc)
            results = {i: (failed, None) for i in indexes}
        else:
            self.stats.transactions += 1
            self.stats.writes += len(indexes)
        for i, (error, value) in results.items():
            if isinstance(error, _Unsure):
                error = self._error(str(error))
            outcomes[i] = (error, value)

    def _write(self, conn: Any, op: _Op) -> list[int]:
        args: _WriteArgs = op.args
        if op.unsure:
            self.stats.unsure_commits += 1
            committed = self._check_unsure(conn, args)
            op.unsure = False
            if committed:
                return args.versions()
        writes = args.writes
        if len(writes) == 1 and args.index is None:
            return [self._put(conn, *writes[0], args)]
        conn.query(b"SAVEPOINT put_many")
        try:
            versions = [self._put(conn, *write, args) for write in writes]
            if args.index is not None:
                self._index.put(_query, conn, args.index, args.expires_at)
        except StorageError:  # a conflict, or a value too large: undo this operation only
            conn.query(b"ROLLBACK TO SAVEPOINT put_many")
            raise
        except MySQLdb.Error as exc:
            if not _is_lost(exc) and _errno(exc) not in _TRANSIENT_ERRORS:
                conn.query(b"ROLLBACK TO SAVEPOINT put_many")
            raise
        return versions

    def _put(
        self,
        conn: Any,
        key: str,
        key_hash: bytes,
        key_bytes: bytes,
        value: bytes | None,
        expected: int,
        args: _WriteArgs,
    ) -> int:
        sql, now = self._sql, args.now
        if value is None:
            if expected == 0:
                actual = self._version(conn, key_hash, now)
                if actual != 0:
                    raise version_conflict(key, 0, actual)
                _query(conn, sql.delete_any, key_hash)  # drops an expired row, if any
                return 0
            if _query(conn, sql.delete, key_hash, expected, now) == 1:
                return 0
        elif expected == 0:
            # inserts, or replaces an expired row; changes nothing when a live row exists
            params = (
                key_hash,
                key_bytes,
                value,
                args.expires_at,
                args.write_id,
                now,
                now,
                now,
                now,
            )
            if _query(conn, sql.insert, *params, limit=self._packet_limit(key, value)) in (1, 2):
                return 1
        else:
            params2 = (value, expected + 1, args.expires_at, args.write_id, key_hash, expected, now)
            if _query(conn, sql.update, *params2, limit=self._packet_limit(key, value)) == 1:
                return expected + 1
        raise version_conflict(key, expected, self._version(conn, key_hash, now))

    def _packet_limit(self, key: str, value: bytes) -> Callable[[int], None]:
        def check(size: int) -> None:
            if size > self.max_allowed_packet - _PACKET_MARGIN:
                raise self._error(
                    f"the value of key {key!r} ({len(value):,} bytes) does not fit the server's "
                    f"max_allowed_packet ({self.max_allowed_packet:,} bytes, for a statement of "
                    f"{size:,} bytes once escaped); it was not written"
                )

        return check

    def _version(self, conn: Any, key_hash: bytes, now: float) -> int:
        rows = _query(conn, self._sql.version, key_hash, now)
        return int(rows[0][0]) if rows else 0

    def _check_unsure(self, conn: Any, args: _WriteArgs) -> bool:
        """Whether the write whose COMMIT was lost was applied (else it is applied again)."""
        last: dict[bytes, tuple[str, bytes | None, int]] = {}
        first: dict[bytes, int] = {}
        for key, key_hash, _, value, expected in args.writes:
            first.setdefault(key_hash, expected)
            last[key_hash] = (key, value, expected)
        rows = {
            row[0]: (int(row[1]), row[2])
            for row in _query(conn, self._sql.check(len(last)), args.now, *last)
        }
        if any(
            value is not None and rows.get(h) == (expected + 1, args.write_id)
            for h, (_, value, expected) in last.items()
        ):
            return True  # our write_id is on a row: the transaction committed
        if all(rows.get(h, (0, b""))[0] == first[h] for h in last):
            return False  # every key is as the write expects: it did not commit
        if all(value is None and h not in rows for h, (_, value, _) in last.items()):
            return True  # deletes only, and the keys are gone
        key = next(iter(last.values()))[0]
        raise _Unsure(
            f"the connection was lost while committing a write of key {key!r} and another "
            "write changed it since: whether this write was applied is unknown (reload)"
        )

    def _purge(self, conn: Any, now: float) -> int:
        self._index.purge(_query, conn, now)
        total = 0
        while True:
            count: int = _query(conn, self._sql.purge, now)
            total += count
            if count < PURGE_CHUNK:
                return total

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

    def _check_size(self, key: str, value: bytes | None) -> None:
        limit = self.max_value_bytes
        if value is not None and limit is not None and len(value) > limit:
            raise self._error(
                f"the value of key {key!r} is {len(value):,} bytes, over maxValueBytes "
                f"({limit:,}); it was not written"
            )

    # --- key-value -------------------------------------------------------------------------

    async def get(self, key: str) -> tuple[bytes, int] | None:
        key = check_key(key)
        found: dict[str, tuple[bytes, int]] = await self._submit(
            "get", ([(key, _hash(key)[0])], self._clock())
        )
        return found.get(key)

    async def get_many(self, keys: Sequence[str]) -> dict[str, tuple[bytes, int]]:
        wanted = list(dict.fromkeys(check_key(k) for k in keys))
        if not wanted:
            if self._state != "started":
                raise not_started(self, self._state)
            return {}
        found: dict[str, tuple[bytes, int]] = await self._submit(
            "get", ([(k, _hash(k)[0]) for k in wanted], self._clock())
        )
        return found

    async def put_many(
        self,
        writes: Sequence[Write],
        *,
        ttl_seconds: float | None = None,
        index: IndexEntry | None = None,
    ) -> list[int]:
        checked = [(check_key(k), check_value(v), check_expected(e)) for k, v, e in writes]
        ttl = check_ttl(ttl_seconds)
        if self._state != "started":
            raise not_started(self, self._state)
        if not checked:
            return []
        for key, value, _ in checked:
            self._check_size(key, value)
        now = self._clock()
        rows = [(k, *_hash(k), v, e) for k, v, e in checked]
        args = _WriteArgs(rows, None if ttl is None else now + ttl, now, index)
        versions: list[int] = await self._submit("write", args)
        return versions

    async def list_index(self, query: IndexQuery) -> IndexPage:
        now = self._clock()

        def select(conn: Any) -> IndexPage:
            try:
                return self._index.list(_query, conn, query, now)
            except MySQLdb.Error as exc:
                self._reraise_if_retryable(exc)
                raise self._error("listing workflows failed", exc) from None

        page: IndexPage = await self._call(select)
        return page

    async def purge_expired(self) -> int:
        count: int = await self._submit("purge", self._clock())
        return count

    # --- key-set ---------------------------------------------------------------------------

    async def add_to_set(self, key: str, member: str) -> None:
        key_hash, key_bytes = _hash(check_key(key))
        member_hash, member_bytes = _hash(check_member(member))
        await self._submit("sadd", (key_hash, member_hash, key_bytes, member_bytes))

    async def remove_from_set(self, key: str, member: str) -> None:
        key_hash, _ = _hash(check_key(key))
        member_hash, _ = _hash(check_member(member))
        await self._submit("srem", (key_hash, member_hash))

    async def get_set(self, key: str) -> frozenset[str]:
        members: frozenset[str] = await self._submit("sget", _hash(check_key(key))[0])
        return members


# --- SQL ---------------------------------------------------------------------------------------


class _Sql:
    """The statements, as bytes templates with %s placeholders (filled by `_query`)."""

    def __init__(self, kv: str, ks: str) -> None:
        self.kv, self.ks = kv, ks
        t, s = f"`{kv}`", f"`{ks}`"
        live = "(expires_at IS NULL OR expires_at > %s)"
        dead = "expires_at IS NOT NULL AND expires_at <= %s"
        self.version = f"SELECT version FROM {t} WHERE key_hash = %s AND {live}".encode()
        self.insert = (
            f"INSERT INTO {t} (key_hash, `key`, value, version, expires_at, write_id) "
            "VALUES (%s, %s, %s, 1, %s, %s) ON DUPLICATE KEY UPDATE "
            # each assignment tests the OLD expires_at: it is assigned last
            f"value = IF({dead}, VALUES(value), value), "
            f"version = IF({dead}, 1, version), "
            f"write_id = IF({dead}, VALUES(write_id), write_id), "
            f"expires_at = IF({dead}, VALUES(expires_at), expires_at)"
        ).encode()
        self.update = (
            f"UPDATE {t} SET value = %s, version = %s, expires_at = %s, write_id = %s "
            f"WHERE key_hash = %s AND version = %s AND {live}"
        ).encode()
        self.delete = f"DELETE FROM {t} WHERE key_hash = %s AND version = %s AND {live}".encode()
        self.delete_any = f"DELETE FROM {t} WHERE key_hash = %s".encode()
        self.purge = f"DELETE FROM {t} WHERE {dead} LIMIT {PURGE_CHUNK}".encode()
        self.set_add = (
            f"INSERT INTO {s} (key_hash, member_hash, `key`, member) VALUES (%s, %s, %s, %s) "
            "ON DUPLICATE KEY UPDATE key_hash = key_hash"
        ).encode()
        self.set_remove = f"DELETE FROM {s} WHERE key_hash = %s AND member_hash = %s".encode()
        self.set_get = f"SELECT member FROM {s} WHERE key_hash = %s".encode()
        self._live = live

    def get(self, n: int) -> bytes:
        marks = ", ".join(["%s"] * n)
        return (
            f"SELECT key_hash, value, version, expires_at FROM `{self.kv}` "
            f"WHERE key_hash IN ({marks})"
        ).encode()

    def check(self, n: int) -> bytes:
        marks = ", ".join(["%s"] * n)
        return (
            f"SELECT key_hash, version, write_id FROM `{self.kv}` "
            f"WHERE {self._live} AND key_hash IN ({marks})"
        ).encode()

    def schema(self, schema_table: str) -> list[bytes]:
        return [
            s.encode()
            for s in (
                f"CREATE TABLE IF NOT EXISTS `{schema_table}` ("
                " component VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,"
                " version INT NOT NULL,"
                " updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
                " ON UPDATE CURRENT_TIMESTAMP(3)"
                ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                f"CREATE TABLE IF NOT EXISTS `{self.kv}` ("
                " key_hash BINARY(32) NOT NULL,"
                " `key` BLOB NOT NULL,"
                " value LONGBLOB NOT NULL,"
                " version BIGINT NOT NULL,"
                " expires_at DOUBLE NULL,"
                " write_id BINARY(8) NOT NULL,"
                " last_update TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
                " ON UPDATE CURRENT_TIMESTAMP(3),"
                " PRIMARY KEY (key_hash),"
                " KEY expires_at_idx (expires_at)"
                ") ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4",
                f"CREATE TABLE IF NOT EXISTS `{self.ks}` ("
                " key_hash BINARY(32) NOT NULL,"
                " member_hash BINARY(32) NOT NULL,"
                " `key` BLOB NOT NULL,"
                " member BLOB NOT NULL,"
                " PRIMARY KEY (key_hash, member_hash)"
                ") ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4",
            )
        ]


def _query(conn: Any, sql: bytes, *args: Any, limit: Callable[[int], None] | None = None) -> Any:
    """Run one statement: its rows (a tuple of tuples) for a SELECT, else the affected rows.

    `limit` checks the size of the statement, once its arguments are escaped, before it is sent.
    """
    statement = sql % tuple(conn.literal(a) for a in args) if args else sql
    if limit is not None:
        limit(len(statement))
    conn.query(statement)
    result = conn.store_result()
    if result is None:
        return conn.affected_rows()
    return result.fetch_row(0)


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8", "surrogatepass")


def _rollback_quietly(conn: Any) -> None:
    try:
        conn.rollback()
    except MySQLdb.Error:
        pass


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except MySQLdb.Error:
        pass
