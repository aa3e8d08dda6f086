"""`MySQLStorage`: the key-value and key-set operations, run in batches by the pool."""

from __future__ import annotations

import asyncio
import hashlib
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import MySQLdb

from ...errors import ConfigError, StorageError, VersionConflictError
from .._batching import Outcome as _Outcome
from .._batching import Stop
from ..base import (
    Clock,
    IndexEntry,
    IndexPage,
    IndexQuery,
    Write,
    check_expected,
    check_key,
    check_member,
    check_ttl,
    check_value,
    not_started,
    version_conflict,
)
from ._index import IndexTables
from ._options import _KEY, _bad, _int, _number, _table, arguments
from ._pool import MySQLStats, _Op, _Pool, _Unsure
from ._sql import (
    _TRANSIENT_ERRORS,
    IN_CHUNK,
    PURGE_CHUNK,
    SCHEMA_VERSION,
    _errno,
    _hash,
    _is_lost,
    _query,
    _rollback_quietly,
    _Sql,
    _text,
)

_PACKET_MARGIN = 1024  # bytes kept below max_allowed_packet for the protocol header


def from_config(options: Mapping[str, Any], *, clock: Clock | None = None) -> MySQLStorage:
    """The (not yet started) storage of a ``storage: {mysql: {...}}`` configuration entry."""
    return MySQLStorage(clock=clock, **arguments(options))


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


class MySQLStorage(_Pool):
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

    def __repr__(self) -> str:
        return f"MySQLStorage({self.where!r}, table={self.kv_table!r}, state={self._state})"

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
