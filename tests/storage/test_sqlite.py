"""SQLite-specific behaviour: durability, WAL, group commit, concurrent writers, schema."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import infinitic.storage.sqlite as sqlite_module
from infinitic.errors import ConfigError, StorageError, VersionConflictError
from infinitic.storage.base import Clock, Storage
from infinitic.storage.sqlite import SCHEMA_VERSION, SqliteStorage

from .contract import FakeClock, StorageContract, conflict_fields


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "infinitic.db"


def run_with(storage: SqliteStorage, body: Callable[[SqliteStorage], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        await storage.start()
        try:
            return await body(storage)
        finally:
            await storage.close()

    return asyncio.run(main())


class WriterGate:
    """Holds the writer thread inside a transaction until `open()`: lets a test queue work."""

    def __init__(self, storage: SqliteStorage) -> None:
        self.storage = storage
        self.entered = threading.Event()
        self.release = threading.Event()
        self.task: asyncio.Task[None] | None = None

    def _hold(self, conn: sqlite3.Connection) -> None:
        self.entered.set()
        assert self.release.wait(10), "gate never opened"

    async def close(self) -> None:
        self.task = asyncio.create_task(self.storage._call_in_writer(self._hold))
        while not self.entered.is_set():
            await asyncio.sleep(0.001)

    async def open(self) -> None:
        self.release.set()
        assert self.task is not None
        await self.task


async def settle() -> None:
    """Let the tasks created so far run up to their first real suspension (enqueued)."""
    for _ in range(5):
        await asyncio.sleep(0)


# --- the contract again, on the pre-UPSERT code path (SQLite < 3.24) ---------------------------


class TestSqliteWithoutUpsert(StorageContract):
    @pytest.fixture(autouse=True)
    def _old_sqlite(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.setattr(sqlite_module, "HAS_UPSERT", False)
        monkeypatch.setattr(sqlite_module, "IN_CHUNK", 7)
        self.path = tmp_path / "old.db"
        yield

    async def make_storage(self, clock: Clock) -> Storage:
        return SqliteStorage(self.path, clock=clock, read_threads=2)


# --- durability ---------------------------------------------------------------------------------


def test_data_survives_close_and_reopen(db: Path) -> None:
    clock = FakeClock()

    async def write(s: SqliteStorage) -> None:
        await s.put("state", b"\x00v1", 0)
        await s.put("state", b"\x00v2", 1)
        await s.put("retained", b"done", 0, ttl_seconds=60)
        await s.put_many([("a", b"A", 0), ("b", b"B", 0)])
        await s.put("a", None, 1)
        await s.add_to_set("tag", "id-1")
        await s.add_to_set("tag", "id-2")
        await s.remove_from_set("tag", "id-1")

    run_with(SqliteStorage(db, clock=clock), write)

    async def read(s: SqliteStorage) -> None:
        assert await s.get("state") == (b"\x00v2", 2)
        assert await s.get_many(["a", "b", "retained"]) == {
            "b": (b"B", 1),
            "retained": (b"done", 1),
        }
        assert await s.get_set("tag") == frozenset({"id-2"})
        with pytest.raises(VersionConflictError):
            await s.put("state", b"stale", 1)
        clock.advance(60)  # expiry times are stored, not recomputed
        assert await s.get("retained") is None
        assert await s.purge_expired() == 1

    run_with(SqliteStorage(db, clock=clock, synchronous="FULL"), read)


def test_close_flushes_queued_writes(db: Path) -> None:
    async def main() -> None:
        s = SqliteStorage(db)
        await s.start()
        gate = WriterGate(s)
        await gate.close()
        writes = [asyncio.create_task(s.put(f"k{i}", b"v", 0)) for i in range(100)]
        await settle()
        closing = asyncio.create_task(s.close())
        await settle()
        with pytest.raises(StorageError, match="closed"):
            await s.put("too-late", b"v", 0)
        await gate.open()
        await closing
        assert [w.result() for w in writes] == [1] * 100

    asyncio.run(main())
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM kv").fetchone() == (100,)
    conn.close()


# --- pragmas and schema -------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "level"), [("NORMAL", 1), ("FULL", 2), ("full", 2)])
def test_wal_and_synchronous(db: Path, mode: str, level: int) -> None:
    def pragmas(conn: sqlite3.Connection) -> tuple[str, int]:
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        return journal, conn.execute("PRAGMA synchronous").fetchone()[0]

    storage = SqliteStorage(db, synchronous=mode)
    assert run_with(storage, lambda s: s._call_in_writer(pragmas)) == ("wal", level)
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # stays in the file
        schema = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert schema == (str(SCHEMA_VERSION),)
        columns = [row[1] for row in raw.execute("PRAGMA table_info(kv)")]
        assert columns == ["key", "value", "version", "expires_at"]
        assert [row[1] for row in raw.execute("PRAGMA table_info(kset)")] == ["key", "member"]
    finally:
        raw.close()


def test_default_synchronous_is_normal(db: Path) -> None:
    assert SqliteStorage(db).synchronous == "NORMAL"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"path": ":memory:"}, "inMemory"),
        ({"path": ""}, "file path"),
        ({"synchronous": "SOMETIMES"}, "synchronous must be one of"),
        ({"busy_timeout": -1}, "busy_timeout"),
        ({"read_threads": -1}, "read_threads"),
        ({"max_batch": 0}, "max_batch"),
    ],
)
def test_bad_configuration(db: Path, kwargs: dict[str, Any], match: str) -> None:
    kwargs.setdefault("path", db)
    with pytest.raises(ConfigError, match=match):
        SqliteStorage(**kwargs)


def test_start_without_create_tables_on_empty_file(db: Path) -> None:
    storage = SqliteStorage(db, create_tables=False)
    with pytest.raises(StorageError, match="create_tables is false"):
        asyncio.run(storage.start())
    # tables created by another storage: then it works
    run_with(SqliteStorage(db), lambda s: s.put("k", b"v", 0))
    assert run_with(SqliteStorage(db, create_tables=False), lambda s: s.get("k")) == (b"v", 1)


def test_newer_schema_is_refused(db: Path) -> None:
    run_with(SqliteStorage(db), lambda s: s.get("k"))
    raw = sqlite3.connect(db)
    with raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    raw.close()
    with pytest.raises(StorageError, match="newer"):
        asyncio.run(SqliteStorage(db).start())


def test_foreign_tables_are_refused(db: Path) -> None:
    raw = sqlite3.connect(db)
    with raw:
        raw.execute("CREATE TABLE kv (id INTEGER)")
    raw.close()
    with pytest.raises(StorageError, match="no infinitic schema version"):
        asyncio.run(SqliteStorage(db).start())


def test_unopenable_path(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "missing-dir" / "x.db")
    with pytest.raises(StorageError, match="missing-dir"):
        asyncio.run(storage.start())


# --- group commit -------------------------------------------------------------------------------


def test_group_commit_batches_queued_writes_in_one_transaction(db: Path) -> None:
    async def body(s: SqliteStorage) -> None:
        gate = WriterGate(s)
        await gate.close()
        before = s.stats.transactions
        writes: list[asyncio.Task[Any]] = [
            asyncio.create_task(s.put(f"k{i}", b"v", 0)) for i in range(200)
        ]
        writes.append(asyncio.create_task(s.add_to_set("tag", "id")))
        await settle()
        await gate.open()
        await asyncio.gather(*writes)
        assert s.stats.transactions - before == 2  # the gate's transaction, then all 201
        assert s.stats.largest_batch == 201
        assert len(await s.get_many([f"k{i}" for i in range(200)])) == 200

    run_with(SqliteStorage(db), body)


def test_max_batch_bounds_a_transaction(db: Path) -> None:
    async def body(s: SqliteStorage) -> None:
        gate = WriterGate(s)
        await gate.close()
        before = s.stats.transactions
        writes = [asyncio.create_task(s.put(f"k{i}", b"v", 0)) for i in range(25)]
        await settle()
        await gate.open()
        await asyncio.gather(*writes)
        assert s.stats.transactions - before == 1 + 3  # 10 + 10 + 5
        assert s.stats.largest_batch == 10

    run_with(SqliteStorage(db, max_batch=10), body)


def test_a_conflict_fails_alone_inside_a_batch(db: Path) -> None:
    async def body(s: SqliteStorage) -> None:
        await s.put("taken", b"t", 0)
        gate = WriterGate(s)
        await gate.close()
        before = s.stats.transactions
        ops = [
            s.put("a", b"a", 0),
            s.put("a", b"a-again", 0),  # conflicts with the write just before it
            s.put("taken", b"late", 0),  # conflicts with the stored row
            s.put_many([("group", b"g", 0), ("taken", b"x", 7)]),  # the whole group fails
            s.put("b", b"b", 0),
            s.put("a", b"a2", 1),  # sees the first write of this same batch
        ]
        tasks = [asyncio.create_task(op) for op in ops]
        await settle()
        await gate.open()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert s.stats.transactions - before == 2
        assert results[0] == 1 and results[4] == 1 and results[5] == 2
        assert conflict_fields(results[1]) == ("a", 0, 1)
        assert conflict_fields(results[2]) == ("taken", 0, 1)
        assert conflict_fields(results[3]) == ("taken", 7, 1)
        assert await s.get_many(["a", "b", "taken", "group"]) == {
            "a": (b"a2", 2),
            "b": (b"b", 1),
            "taken": (b"t", 1),
        }

    run_with(SqliteStorage(db), body)


def test_an_unexpected_error_fails_only_its_operation(db: Path) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO kv (key, value, version) VALUES ('half', x'00', 1)")
        conn.execute("SELECT * FROM no_such_table")

    async def body(s: SqliteStorage) -> None:
        gate = WriterGate(s)
        await gate.close()
        tasks = [
            asyncio.create_task(s.put("before", b"1", 0)),
            asyncio.create_task(s._call_in_writer(broken)),
            asyncio.create_task(s.put("after", b"2", 0)),
        ]
        await settle()
        await gate.open()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert results[0] == 1 and results[2] == 1
        assert isinstance(results[1], StorageError)
        assert "no_such_table" in str(results[1])
        assert isinstance(results[1].__cause__, sqlite3.OperationalError)
        # the broken operation's own partial write was rolled back
        assert await s.get_many(["before", "after", "half"]) == {
            "before": (b"1", 1),
            "after": (b"2", 1),
        }

    run_with(SqliteStorage(db), body)


def test_a_write_cancelled_before_the_writer_takes_it_is_skipped(db: Path) -> None:
    async def body(s: SqliteStorage) -> None:
        gate = WriterGate(s)
        await gate.close()
        cancelled = asyncio.create_task(s.put("cancelled", b"x", 0))
        kept = asyncio.create_task(s.put("kept", b"y", 0))
        await settle()
        cancelled.cancel()
        await settle()
        await gate.open()
        assert await kept == 1
        assert cancelled.cancelled()
        assert await s.get("cancelled") is None

    run_with(SqliteStorage(db), body)


def test_many_concurrent_writers_share_few_transactions(db: Path) -> None:
    async def body(s: SqliteStorage) -> None:
        before = s.stats.transactions
        versions = await asyncio.gather(*(s.put(f"k{i}", b"v", 0) for i in range(1000)))
        assert versions == [1] * 1000
        assert s.stats.transactions - before < 500  # typically a handful

    run_with(SqliteStorage(db), body)


# --- concurrency across threads, loops and connections ------------------------------------------


async def increment(s: Storage, key: str, times: int) -> int:
    conflicts = 0
    for _ in range(times):
        while True:
            current = await s.get(key)
            value, version = (b"0", 0) if current is None else current
            await asyncio.sleep(0)
            try:
                await s.put(key, str(int(value) + 1).encode(), version)
                break
            except VersionConflictError:
                conflicts += 1
    return conflicts


def test_two_storages_on_one_file_from_two_threads(db: Path) -> None:
    """Two writer connections (as two processes would have), each on its own loop and thread."""
    errors: list[BaseException] = []
    run_with(SqliteStorage(db), lambda s: s.get("k"))  # create the tables once

    def worker() -> None:
        async def work(s: SqliteStorage) -> None:
            await asyncio.gather(*(increment(s, "counter", 10) for _ in range(4)))

        try:
            run_with(SqliteStorage(db, busy_timeout=10, read_threads=0), work)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert run_with(SqliteStorage(db), lambda s: s.get("counter")) == (b"80", 80)


def test_one_storage_used_from_several_event_loops(db: Path) -> None:
    storage = SqliteStorage(db)
    asyncio.run(storage.start())
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        async def work() -> None:
            await asyncio.gather(*(increment(storage, "shared", 5) for _ in range(3)))
            await storage.add_to_set("loops", f"loop-{n}")

        try:
            asyncio.run(work())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []

    async def check() -> None:
        assert await storage.get("shared") == (b"45", 45)
        assert await storage.get_set("loops") == {"loop-0", "loop-1", "loop-2"}
        await storage.close()

    asyncio.run(check())


def test_a_schema_1_database_gets_the_workflow_index(db: Path) -> None:
    from infinitic.storage.base import IndexEntry, IndexQuery

    run_with(SqliteStorage(db), lambda s: s.put("k", b"v", 0))
    raw = sqlite3.connect(db)
    with raw:  # as release 1 left it
        raw.execute("DROP TABLE wf_index")
        raw.execute("DROP TABLE wf_index_tag")
        raw.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    raw.close()
    flow = IndexEntry("Flow", "a", "running", frozenset({"t"}), 1.0, 2.0)
    run_with(SqliteStorage(db), lambda s: s.put("k2", b"v", 0, index=flow))
    page = run_with(SqliteStorage(db), lambda s: s.list_index(IndexQuery.of(tag="t")))
    assert page.entries == [flow]
    assert run_with(SqliteStorage(db), lambda s: s.get("k")) == (b"v", 1)
    raw = sqlite3.connect(db)
    schema = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    raw.close()
    assert schema == (str(SCHEMA_VERSION),) == ("2",)
