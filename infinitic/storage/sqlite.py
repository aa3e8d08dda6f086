"""Embedded SQLite storage (standard-library `sqlite3` only), with group commit.

One file, WAL journal. Writes go through a single writer thread that owns the write connection:
async callers enqueue an operation and await a future; the writer drains everything queued
(up to `max_batch`), runs it in ONE transaction (each compare-and-set checked inside it; a
conflicting write fails alone, a conflicting `put_many` fails as a whole), commits once and
resolves the futures on their loops with `loop.call_soon_threadsafe` (one call per loop and
batch). Many concurrent state transitions therefore share one commit (and one fsync under
``synchronous=FULL``).

Reads use separate read-only connections: `read_threads` reader threads (default 1) that batch
the reads queued meanwhile in one read transaction; ``read_threads=0`` runs reads inline on the
calling thread instead (faster for small values when the event loop is not busy, but a slow disk
blocks the loop). See docs/storage.md for the schema and the durability trade-offs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ConfigError, StorageError, VersionConflictError
from ._batching import Outcome as _Outcome
from ._batching import Stop, refuse_queued, serve
from ._batching import resolve as _resolve
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
from .index import decode_tags, encode_tags

__all__ = ["SCHEMA_VERSION", "SYNCHRONOUS_MODES", "SqliteStats", "SqliteStorage"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: the workflow index (wf_index, wf_index_tag)
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

# Features gated on the linked SQLite library (Debian 12 ships 3.40):
#  - UPSERT (INSERT ... ON CONFLICT DO UPDATE) needs 3.24; without it, SELECT then write.
HAS_UPSERT = sqlite3.sqlite_version_info >= (3, 24, 0)
#  - at most 999 bound parameters per statement before 3.32 (32766 since): chunk get_many.
IN_CHUNK = 500

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
    "version INTEGER NOT NULL, expires_at REAL)",
    "CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS kset (key TEXT NOT NULL, member TEXT NOT NULL, "
    "PRIMARY KEY (key, member)) WITHOUT ROWID",
)
# the workflow index (storage/index.py); `member` is "name NUL id" as UTF-8 bytes
_INDEX_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS wf_index (member BLOB PRIMARY KEY, name TEXT NOT NULL, "
    "id TEXT NOT NULL, status TEXT NOT NULL, tags TEXT NOT NULL, started_us INTEGER NOT NULL, "
    "updated_at REAL NOT NULL, expires_at REAL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS wf_index_started ON wf_index (started_us, member)",
    "CREATE INDEX IF NOT EXISTS wf_index_name ON wf_index (name, started_us, member)",
    "CREATE INDEX IF NOT EXISTS wf_index_status ON wf_index (status, started_us, member)",
    "CREATE INDEX IF NOT EXISTS wf_index_name_status "
    "ON wf_index (name, status, started_us, member)",
    "CREATE INDEX IF NOT EXISTS wf_index_expires ON wf_index (expires_at) "
    "WHERE expires_at IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS wf_index_tag (tag TEXT NOT NULL, started_us INTEGER NOT NULL, "
    "member BLOB NOT NULL, PRIMARY KEY (tag, started_us, member)) WITHOUT ROWID",
)
_SQL_INDEX_OLD = "SELECT tags, started_us FROM wf_index WHERE member = ?"
_SQL_INDEX_PUT = (
    "INSERT OR REPLACE INTO wf_index (member, name, id, status, tags, started_us, updated_at, "
    "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQL_INDEX_STATUS = (
    "UPDATE wf_index SET status = ?, updated_at = ?, expires_at = ? "
    "WHERE member = ? AND tags = ? AND started_us = ?"
)
_SQL_INDEX_NEW = (
    "INSERT OR IGNORE INTO wf_index (member, name, id, status, tags, started_us, updated_at, "
    "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQL_TAG_ADD = "INSERT OR IGNORE INTO wf_index_tag (tag, started_us, member) VALUES (?, ?, ?)"
_SQL_TAG_REMOVE = "DELETE FROM wf_index_tag WHERE tag = ? AND started_us = ? AND member = ?"
_SQL_INDEX_PURGE_TAGS = (
    "DELETE FROM wf_index_tag WHERE member IN (SELECT member FROM wf_index "
    "WHERE expires_at IS NOT NULL AND expires_at <= ?)"
)
_SQL_INDEX_PURGE = "DELETE FROM wf_index WHERE expires_at IS NOT NULL AND expires_at <= ?"
_INDEX_COLUMNS = "i.name, i.id, i.status, i.tags, i.started_us, i.updated_at"

_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_SQL_GET = f"SELECT value, version FROM kv WHERE key = ? AND {_LIVE}"
_SQL_VERSION = f"SELECT version FROM kv WHERE key = ? AND {_LIVE}"
_SQL_UPSERT_NEW = (
    "INSERT INTO kv (key, value, version, expires_at) VALUES (?, ?, 1, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = 1, "
    "expires_at = excluded.expires_at WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?"
)
_SQL_REPLACE_NEW = "INSERT OR REPLACE INTO kv (key, value, version, expires_at) VALUES (?, ?, 1, ?)"
_SQL_UPDATE = (
    "UPDATE kv SET value = ?, version = ?, expires_at = ? "
    f"WHERE key = ? AND version = ? AND {_LIVE}"
)
_SQL_DELETE = f"DELETE FROM kv WHERE key = ? AND version = ? AND {_LIVE}"
_SQL_DELETE_ANY = "DELETE FROM kv WHERE key = ?"
_SQL_PURGE = "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?"
_SQL_SET_ADD = "INSERT OR IGNORE INTO kset (key, member) VALUES (?, ?)"
_SQL_SET_REMOVE = "DELETE FROM kset WHERE key = ? AND member = ?"
_SQL_SET_GET = "SELECT member FROM kset WHERE key = ?"

T = TypeVar("T")
_Fn = Callable[[sqlite3.Connection], Any]


@dataclass
class SqliteStats:
    """Counters of the group commit, for tests and benchmarks (approximate under contention)."""

    transactions: int = 0  # write transactions committed
    writes: int = 0  # write operations that went through those transactions
    largest_batch: int = 0  # most operations committed by one transaction
    read_batches: int = 0
    reads: int = 0


class _Op:
    __slots__ = ("fn", "future", "loop")

    def __init__(self, fn: _Fn, future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop):
        self.fn = fn
        self.future = future
        self.loop = loop


class SqliteStorage(Storage):
    """`Storage` in one SQLite file, WAL journal, group commit by a single writer thread.

    Args:
        path: the database file (created if missing; its directory must exist).
        synchronous: ``"NORMAL"`` (default) or ``"FULL"`` (``"OFF"``/``"EXTRA"`` accepted).
            In WAL mode NORMAL never corrupts the database, but the last commits may be lost
            on power failure or OS crash (not on a process crash); FULL fsyncs the WAL on every
            commit, so a commit that returned survives a power loss.
        busy_timeout: seconds to wait for a lock held by another connection (another process).
        read_threads: reader threads (default 1); 0 runs reads inline on the calling thread.
        create_tables: create the tables on `start` when missing (else `start` fails).
        max_batch: most operations one write transaction (or read batch) takes from the queue.
        clock: wall-clock time source for expiry (``time.time``); inject one in tests.
    """

    backend = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        busy_timeout: float = 5.0,
        read_threads: int = 1,
        create_tables: bool = True,
        max_batch: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        self.path = os.fspath(path)
        if not isinstance(self.path, str) or self.path in ("", ":memory:"):
            raise ConfigError(
                f"sqlite storage needs a file path, not {self.path!r} "
                "(use the 'inMemory' storage for a database that lives in memory)"
            )
        mode = str(synchronous).upper()
        if mode not in SYNCHRONOUS_MODES:
            raise ConfigError(
                f"sqlite storage: synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}, "
                f"not {synchronous!r}"
            )
        if not (isinstance(busy_timeout, (int, float)) and busy_timeout >= 0):
            raise ConfigError(
                f"sqlite storage: busy_timeout must be seconds >= 0, not {busy_timeout!r}"
            )
        if type(read_threads) is not int or read_threads < 0:
            raise ConfigError(
                f"sqlite storage: read_threads must be an int >= 0, not {read_threads!r}"
            )
        if type(max_batch) is not int or max_batch < 1:
            raise ConfigError(f"sqlite storage: max_batch must be an int >= 1, not {max_batch!r}")
        self.synchronous = mode
        self.busy_timeout = float(busy_timeout)
        self.read_threads = read_threads
        self.create_tables = bool(create_tables)
        self.max_batch = max_batch
        self._clock: Clock = clock or time.time
        self.stats = SqliteStats()
        self._state = "new"
        self._lifecycle = asyncio.Lock()
        self._write_queue: queue.SimpleQueue[_Op | Stop] = queue.SimpleQueue()
        self._read_queue: queue.SimpleQueue[_Op | Stop] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._inline_conn: sqlite3.Connection | None = None
        self._inline_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"SqliteStorage({self.path!r}, synchronous={self.synchronous!r}, state={self._state})"
        )

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._lifecycle:
            if self._state == "started":
                return
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[list[sqlite3.Connection]] = loop.create_future()
            self._write_queue = queue.SimpleQueue()
            self._read_queue = queue.SimpleQueue()
            writer = threading.Thread(
                target=self._writer_main,
                args=(self._write_queue, loop, ready),
                name=f"infinitic-sqlite-writer:{self.path}",
                daemon=True,
            )
            writer.start()
            try:
                readers = await ready
            except BaseException:
                writer.join()
                raise
            self._threads = [writer]
            if self.read_threads == 0:
                self._inline_conn = readers[0]
            else:
                for i, conn in enumerate(readers):
                    thread = threading.Thread(
                        target=self._reader_main,
                        args=(self._read_queue, conn),
                        name=f"infinitic-sqlite-reader-{i}:{self.path}",
                        daemon=True,
                    )
                    thread.start()
                    self._threads.append(thread)
            self._state = "started"
            logger.debug(
                "sqlite storage started on %s (synchronous=%s)", self.path, self.synchronous
            )

    async def close(self) -> None:
        async with self._lifecycle:
            if self._state != "started":
                return
            self._state = "closing"
            loop = asyncio.get_running_loop()
            stops: list[asyncio.Future[Any]] = []
            # the writer first drains (flushes) every write queued before its stop
            for i, _thread in enumerate(self._threads):
                stop: asyncio.Future[Any] = loop.create_future()
                (self._write_queue if i == 0 else self._read_queue).put(Stop(stop, loop))
                stops.append(stop)
            await asyncio.gather(*stops)
            for thread in self._threads:
                thread.join()
            self._threads = []
            if self._inline_conn is not None:
                with self._inline_lock:
                    self._inline_conn.close()
                    self._inline_conn = None
            self._state = "closed"
            # anything that slipped in after the stops (from another thread) is refused
            for q in (self._write_queue, self._read_queue):
                refuse_queued(q, not_started(self, "closed"))
            logger.debug("sqlite storage closed on %s", self.path)

    # --- threads ---------------------------------------------------------------------------

    def _connect(self, *, readonly: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # each connection is used by one thread at a time
            cached_statements=64,
        )
        try:
            if readonly:
                conn.execute("PRAGMA query_only = ON")
            else:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StorageError(f"sqlite storage {self.path}: cannot enable WAL ({mode})")
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _setup_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            version: int | None = None
            if "meta" in tables:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = None if row is None else int(row[0])
            if version is None:
                if tables & {"kv", "kset", "meta"}:
                    raise StorageError(
                        f"sqlite storage {self.path}: tables kv/kset/meta exist but carry no "
                        "infinitic schema version; use another file"
                    )
                if not self.create_tables:
                    raise StorageError(
                        f"sqlite storage {self.path}: no infinitic tables, and create_tables "
                        "is false"
                    )
                for statement in _SCHEMA + _INDEX_SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif version > SCHEMA_VERSION:
                raise StorageError(
                    f"sqlite storage {self.path}: schema version {version} is newer than the "
                    f"{SCHEMA_VERSION} this release knows; upgrade infinitic"
                )
            elif version < SCHEMA_VERSION:
                # 1 -> 2: the workflow index; instances saved before are not in it
                for statement in _INDEX_SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION),),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _writer_main(
        self,
        q: queue.SimpleQueue[_Op | Stop],
        loop: asyncio.AbstractEventLoop,
        ready: asyncio.Future[list[sqlite3.Connection]],
    ) -> None:
        opened: list[sqlite3.Connection] = []
        try:
            conn = self._connect(readonly=False)
            opened.append(conn)
            self._setup_schema(conn)
            for _ in range(max(self.read_threads, 1)):
                opened.append(self._connect(readonly=True))
        except BaseException as exc:
            for c in opened:
                c.close()
            error = exc if isinstance(exc, StorageError) else _error(self.path, "cannot open", exc)
            failed: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = [
                (ready, error, None)
            ]
            loop.call_soon_threadsafe(_resolve, failed)
            return
        done: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = [
            (ready, None, opened[1:])
        ]
        loop.call_soon_threadsafe(_resolve, done)
        self._serve(q, conn, self._write_batch)

    def _reader_main(self, q: queue.SimpleQueue[_Op | Stop], conn: sqlite3.Connection) -> None:
        self._serve(q, conn, self._read_batch)

    def _serve(
        self,
        q: queue.SimpleQueue[_Op | Stop],
        conn: sqlite3.Connection,
        run: Callable[[sqlite3.Connection, list[_Op]], list[_Outcome]],
    ) -> None:
        """Run batches of what is queued until a stop, then close `conn`."""
        serve(
            q,
            self.max_batch,
            functools.partial(run, conn),
            lambda exc: _error(self.path, "internal error", exc),
            logger,
            f"sqlite storage {self.path}",
            conn.close,
        )

    def _write_batch(self, conn: sqlite3.Connection, ops: list[_Op]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                try:
                    outcomes.append((None, op.fn(conn)))
                except VersionConflictError as conflict:  # fails alone, wrote nothing
                    outcomes.append((conflict, None))
            conn.execute("COMMIT")
        except Exception as exc:
            _rollback(conn)
            if len(ops) == 1:
                return [(_error(self.path, "write failed", exc), None)]
            # isolate the culprit: run each operation in a transaction of its own
            logger.warning(
                "sqlite storage %s: a batch of %d writes failed (%s); retrying them one by one",
                self.path,
                len(ops),
                exc,
            )
            return [self._write_batch(conn, [op])[0] for op in ops]
        stats = self.stats
        stats.transactions += 1
        stats.writes += len(ops)
        stats.largest_batch = max(stats.largest_batch, len(ops))
        return outcomes

    def _read_batch(self, conn: sqlite3.Connection, ops: list[_Op]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        began = False
        if len(ops) > 1:  # one snapshot and one lock for the whole batch
            try:
                conn.execute("BEGIN")
                began = True
            except sqlite3.Error:
                pass
        for op in ops:
            assert op.fn is not None
            try:
                outcomes.append((None, op.fn(conn)))
            except Exception as exc:
                outcomes.append((_error(self.path, "read failed", exc), None))
        if began:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                _rollback(conn)
        self.stats.read_batches += 1
        self.stats.reads += len(ops)
        return outcomes

    # --- submission ------------------------------------------------------------------------

    async def _write(self, fn: _Fn) -> Any:
        if self._state != "started":
            raise not_started(self, self._state)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._write_queue.put(_Op(fn, future, loop))
        return await future

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._state != "started":
            raise not_started(self, self._state)
        conn = self._inline_conn
        if conn is not None:
            with self._inline_lock:
                try:
                    return fn(conn)
                except sqlite3.Error as exc:
                    raise _error(self.path, "read failed", exc) from exc
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._read_queue.put(_Op(fn, future, loop))
        return await future

    async def _call_in_writer(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` inside the writer's current transaction (tests, maintenance)."""
        result: T = await self._write(fn)
        return result

    # --- key-value -------------------------------------------------------------------------

    async def get(self, key: str) -> tuple[bytes, int] | None:
        args = (check_key(key), self._clock())

        def get(conn: sqlite3.Connection) -> tuple[bytes, int] | None:
            row = conn.execute(_SQL_GET, args).fetchone()
            return None if row is None else (row[0], row[1])

        return await self._read(get)

    async def get_many(self, keys: Sequence[str]) -> dict[str, tuple[bytes, int]]:
        wanted = list(dict.fromkeys(check_key(k) for k in keys))
        if not wanted:
            if self._state != "started":
                raise not_started(self, self._state)
            return {}
        now = self._clock()

        def get_many(conn: sqlite3.Connection) -> dict[str, tuple[bytes, int]]:
            found: dict[str, tuple[bytes, int]] = {}
            for i in range(0, len(wanted), IN_CHUNK):
                chunk = wanted[i : i + IN_CHUNK]
                sql = (
                    "SELECT key, value, version FROM kv WHERE key IN "
                    f"({','.join('?' * len(chunk))}) AND {_LIVE}"
                )
                for key, value, version in conn.execute(sql, (*chunk, now)):
                    found[key] = (value, version)
            return found

        return await self._read(get_many)

    async def put(
        self,
        key: str,
        value: bytes | None,
        expected_version: int,
        *,
        ttl_seconds: float | None = None,
        index: IndexEntry | None = None,
    ) -> int:
        key = check_key(key)
        value = check_value(value)
        expected = check_expected(expected_version)
        ttl = check_ttl(ttl_seconds)
        now = self._clock()
        expires_at = None if ttl is None else now + ttl

        def put(conn: sqlite3.Connection) -> int:
            version = _put(conn, key, value, expected, expires_at, now)
            if index is not None:
                _put_index(conn, index, expires_at)
            return version

        version: int = await self._write(put)
        return version

    async def put_many(
        self,
        writes: Sequence[Write],
        *,
        ttl_seconds: float | None = None,
        index: IndexEntry | None = None,
    ) -> list[int]:
        checked = [(check_key(k), check_value(v), check_expected(e)) for k, v, e in writes]
        ttl = check_ttl(ttl_seconds)
        now = self._clock()
        expires_at = None if ttl is None else now + ttl
        if not checked:
            if self._state != "started":
                raise not_started(self, self._state)
            return []

        def put_many(conn: sqlite3.Connection) -> list[int]:
            if len(checked) == 1 and index is None:
                return [_put(conn, *checked[0], expires_at, now)]
            conn.execute("SAVEPOINT put_many")
            try:
                versions = [_put(conn, k, v, e, expires_at, now) for k, v, e in checked]
                if index is not None:
                    _put_index(conn, index, expires_at)
            except BaseException:
                conn.execute("ROLLBACK TO put_many")
                conn.execute("RELEASE put_many")
                raise
            conn.execute("RELEASE put_many")
            return versions

        versions: list[int] = await self._write(put_many)
        return versions

    async def purge_expired(self) -> int:
        args = (self._clock(),)

        def purge(conn: sqlite3.Connection) -> int:
            conn.execute(_SQL_INDEX_PURGE_TAGS, args)
            conn.execute(_SQL_INDEX_PURGE, args)
            return conn.execute(_SQL_PURGE, args).rowcount

        count: int = await self._write(purge)
        return count

    async def list_index(self, query: IndexQuery) -> IndexPage:
        sql, args = _index_query(query, self._clock())

        def select(conn: sqlite3.Connection) -> IndexPage:
            rows = conn.execute(sql, args).fetchall()
            return query.page([_index_entry(row) for row in rows])

        return await self._read(select)

    # --- key-set ---------------------------------------------------------------------------

    async def add_to_set(self, key: str, member: str) -> None:
        args = (check_key(key), check_member(member))
        await self._write(lambda conn: conn.execute(_SQL_SET_ADD, args))

    async def remove_from_set(self, key: str, member: str) -> None:
        args = (check_key(key), check_member(member))
        await self._write(lambda conn: conn.execute(_SQL_SET_REMOVE, args))

    async def get_set(self, key: str) -> frozenset[str]:
        args = (check_key(key),)

        def get_set(conn: sqlite3.Connection) -> frozenset[str]:
            return frozenset(row[0] for row in conn.execute(_SQL_SET_GET, args))

        return await self._read(get_set)


# --- operations, run by the writer thread inside its transaction ---------------------------


def _actual_version(conn: sqlite3.Connection, key: str, now: float) -> int:
    row = conn.execute(_SQL_VERSION, (key, now)).fetchone()
    return 0 if row is None else int(row[0])


def _put(
    conn: sqlite3.Connection,
    key: str,
    value: bytes | None,
    expected: int,
    expires_at: float | None,
    now: float,
) -> int:
    if value is None:
        if expected == 0:
            actual = _actual_version(conn, key, now)
            if actual != 0:
                raise version_conflict(key, 0, actual)
            conn.execute(_SQL_DELETE_ANY, (key,))  # drops an expired row, if any
            return 0
        if conn.execute(_SQL_DELETE, (key, expected, now)).rowcount == 1:
            return 0
    elif expected == 0:
        if HAS_UPSERT:
            # inserts, or replaces an expired row; changes nothing when a live row exists
            if conn.execute(_SQL_UPSERT_NEW, (key, value, expires_at, now)).rowcount == 1:
                return 1
        elif _actual_version(conn, key, now) == 0:
            conn.execute(_SQL_REPLACE_NEW, (key, value, expires_at))
            return 1
    else:
        args = (value, expected + 1, expires_at, key, expected, now)
        if conn.execute(_SQL_UPDATE, args).rowcount == 1:
            return expected + 1
    raise version_conflict(key, expected, _actual_version(conn, key, now))


def _put_index(conn: sqlite3.Connection, entry: IndexEntry, expires_at: float | None) -> None:
    name_id = entry.member.encode()
    started = entry.started_us
    tags = encode_tags(entry.tags)
    row = (name_id, entry.name, entry.id, entry.status, tags, started, entry.updated_at, expires_at)
    # the usual writes take one statement, without reading the entry first: a new instance's
    # (an INSERT, a no-op if an entry is there) and a status change (an UPDATE of the entry of
    # the same start and tags, which touches only the indexes of its columns)
    if entry.started_at == entry.updated_at and conn.execute(_SQL_INDEX_NEW, row).rowcount == 1:
        for tag in entry.tags:
            conn.execute(_SQL_TAG_ADD, (tag, started, name_id))
        return
    status = (entry.status, entry.updated_at, expires_at, name_id, tags, started)
    if conn.execute(_SQL_INDEX_STATUS, status).rowcount == 1:
        return
    # none yet (saved before the index existed), or another start or tags under this member
    old = conn.execute(_SQL_INDEX_OLD, (name_id,)).fetchone()
    conn.execute(_SQL_INDEX_PUT, row)
    if old is not None:
        for tag in decode_tags(old[0]):
            conn.execute(_SQL_TAG_REMOVE, (tag, old[1], name_id))
    for tag in entry.tags:
        conn.execute(_SQL_TAG_ADD, (tag, started, name_id))


def _index_query(query: IndexQuery, now: float) -> tuple[str, list[Any]]:
    where = ["(i.expires_at IS NULL OR i.expires_at > ?)"]
    args: list[Any] = [now]
    if query.name is not None:
        where.append("i.name = ?")
        args.append(query.name)
    if query.status is not None:
        where.append("i.status = ?")
        args.append(query.status)
    order = "t" if query.tag is not None else "i"
    if query.after is not None:
        # row values (3.15+) keep the range on the index
        where.append(f"({order}.started_us, {order}.member) < (?, ?)")
        args += [query.after[0], query.after[1].encode()]
    if query.tag is not None:
        source = "wf_index_tag t JOIN wf_index i ON i.member = t.member"
        where.insert(0, "t.tag = ?")
        args.insert(0, query.tag)
    else:
        source = "wf_index i"
    sql = (
        f"SELECT {_INDEX_COLUMNS} FROM {source} WHERE {' AND '.join(where)} "
        f"ORDER BY {order}.started_us DESC, {order}.member DESC LIMIT ?"
    )
    return sql, [*args, query.limit + 1]


def _index_entry(row: Sequence[Any]) -> IndexEntry:
    name, workflow_id, status, tags, started_us, updated_at = row
    return IndexEntry(
        name, workflow_id, status, decode_tags(tags), started_us / 1_000_000, updated_at
    )


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            logger.exception("sqlite storage: rollback failed")


def _error(path: str, what: str, exc: BaseException) -> StorageError:
    error = StorageError(f"sqlite storage {path}: {what}: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
