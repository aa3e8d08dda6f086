"""The MySQL storage on a real MariaDB: the contract suite, errors, isolation, outages, races.

The server comes from tests/storage/mysql_server.py (a throwaway MariaDB, or INFINITIC_MYSQL_URL);
without one these tests are skipped with the reason (they fail under INFINITIC_REQUIRE_SERVERS=1).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import pytest

from infinitic.errors import ConfigError, StorageError, VersionConflictError
from infinitic.storage import create_storage
from infinitic.storage.base import Clock, Storage

from .contract import FakeClock, StorageContract
from .mysql_fixtures import mysql_endpoint, mysql_private_server, mysql_server
from .mysql_server import APT_HINT, Endpoint, MariaDBServer, require_servers

__all__ = ["mysql_endpoint", "mysql_private_server", "mysql_server"]  # fixtures, used by name

if not require_servers():
    pytest.importorskip("MySQLdb", reason=f"mysqlclient is not installed ({APT_HINT})")

import MySQLdb  # noqa: E402

from infinitic.storage.mysql import MySQLStorage  # noqa: E402

mysql = pytest.mark.mysql


def storage_on(endpoint: Endpoint, clock: Clock | None = None, **options: Any) -> MySQLStorage:
    storage = create_storage({"mysql": endpoint.options(**options)}, clock=clock)
    assert isinstance(storage, MySQLStorage)
    return storage


# --- the contract ------------------------------------------------------------------------------


@mysql
class TestMySQLStorage(StorageContract):
    @pytest.fixture(autouse=True)
    def _database(self, mysql_endpoint: Endpoint) -> None:
        self.endpoint = mysql_endpoint

    async def make_storage(self, clock: Clock) -> Storage:
        return MySQLStorage(clock=clock, **self.endpoint.options())


@mysql
class TestMySQLStorageOneConnection(StorageContract):
    """Built by the factory with YAML keys: one connection, small batches, another prefix."""

    @pytest.fixture(autouse=True)
    def _database(self, mysql_endpoint: Endpoint) -> None:
        self.endpoint = mysql_endpoint

    async def make_storage(self, clock: Clock) -> Storage:
        return storage_on(self.endpoint, clock, poolSize=1, maxBatch=3, tablePrefix="app2_")


# --- configuration (no server needed) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "storage.mysql.database is required"),
        ({"database": "d", "colour": 1}, "storage.mysql.colour: unknown option"),
        ({"database": "d", "poolSize": 0}, "storage.mysql.poolSize must be an int between 1"),
        ({"database": "d", "pool_size": "4"}, "storage.mysql.poolSize must be an int"),
        ({"database": "d", "port": 70000}, "storage.mysql.port must be an int between 1 and"),
        ({"database": "d", "tablePrefix": "a-b"}, "storage.mysql.tablePrefix must be"),
        ({"database": "d", "keyValueTable": "x;drop"}, "storage.mysql.keyValueTable must be"),
        ({"database": "d", "createTables": "yes"}, "storage.mysql.createTables must be true"),
        ({"database": "d", "timeoutSeconds": 0}, "storage.mysql.timeoutSeconds must be a number"),
        ({"database": "d", "retryTimeoutSeconds": -1}, "storage.mysql.retryTimeoutSeconds"),
        ({"database": "d", "maxValueBytes": 0}, "storage.mysql.maxValueBytes must be an int"),
        ({"database": ""}, "storage.mysql.database must be a non-empty string"),
        ({"database": "d", "user": "u", "username": "v"}, "storage.mysql.username: user is given"),
        ({"database": "d", "keySetTable": "t", "keyValueTable": "t"}, "must differ"),
    ],
)
def test_config_errors_name_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_storage({"mysql": options})
    assert message in str(info.value)


def test_config_never_shows_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        create_storage({"mysql": {"database": "d", "password": 12345678}})
    assert "12345678" not in str(info.value)
    storage = create_storage({"mysql": {"database": "d", "password": "hunter2-secret"}})
    assert "hunter2" not in repr(storage)


def test_config_names_and_defaults() -> None:
    storage = create_storage(
        {"mysql": {"database": "d", "tablePrefix": "a_", "keySetTable": "tags", "poolSize": 2}}
    )
    assert isinstance(storage, MySQLStorage)
    assert (storage.kv_table, storage.set_table, storage.schema_table) == (
        "a_key_value_storage",
        "tags",
        "a_schema_version",
    )
    assert (storage.host, storage.port, storage.pool_size) == ("127.0.0.1", 3306, 2)


# --- start-up errors ---------------------------------------------------------------------------


def _start_error(storage: MySQLStorage) -> StorageError:
    async def main() -> StorageError:
        with pytest.raises(StorageError) as info:
            await storage.start()
        with pytest.raises(StorageError, match="not started"):
            await storage.get("k")
        await storage.close()
        return info.value

    return asyncio.run(main())


def _chain(error: BaseException) -> str:
    texts = []
    current: BaseException | None = error
    while current is not None:
        texts.append(f"{current!r} {current}")
        current = current.__cause__ or current.__context__
    return " | ".join(texts)


@mysql
def test_wrong_password_fails_at_start_without_the_secret(mysql_endpoint: Endpoint) -> None:
    secret = "Wr0ng-Secret-Value"
    error = _start_error(storage_on(mysql_endpoint, password=secret, retryTimeoutSeconds=1))
    assert "access denied for user 'infinitic'" in str(error)
    assert "check the user and password" in str(error)
    assert secret not in _chain(error)


@mysql
def test_missing_database_fails_at_start(mysql_endpoint: Endpoint) -> None:
    error = _start_error(storage_on(mysql_endpoint, database="no_such_db_here"))
    assert "database 'no_such_db_here' does not exist" in str(error)
    assert mysql_endpoint.password not in _chain(error)


@mysql
def test_unreachable_server_fails_after_the_retry_timeout(mysql_endpoint: Endpoint) -> None:
    from .mysql_server import free_port

    storage = storage_on(mysql_endpoint, port=free_port(), retryTimeoutSeconds=0.3)
    began = time.monotonic()
    error = _start_error(storage)
    assert "cannot connect" in str(error)
    assert time.monotonic() - began < 10


@mysql
def test_tables_and_schema_version(mysql_endpoint: Endpoint) -> None:
    error = _start_error(storage_on(mysql_endpoint, createTables=False))
    assert "missing and createTables is false" in str(error)

    async def create() -> None:
        async with storage_on(mysql_endpoint):
            pass

    asyncio.run(create())
    tables = {row[0] for row in mysql_endpoint.execute("SHOW TABLES")}
    assert tables == {
        "infinitic_key_value_storage",
        "infinitic_key_set_storage",
        "infinitic_schema_version",
        "infinitic_key_value_storage_idx",  # the workflow index
        "infinitic_key_value_storage_idx_tag",
    }
    assert mysql_endpoint.execute("SELECT component, version FROM infinitic_schema_version") == [
        ("storage", 2)
    ]
    asyncio.run(create())  # existing tables are reused
    # a schema 1 database (before the workflow index) gets the index tables at start
    mysql_endpoint.execute("DROP TABLE infinitic_key_value_storage_idx_tag")
    mysql_endpoint.execute("DROP TABLE infinitic_key_value_storage_idx")
    mysql_endpoint.execute("UPDATE infinitic_schema_version SET version = 1")
    asyncio.run(create())
    assert {row[0] for row in mysql_endpoint.execute("SHOW TABLES")} == tables
    assert mysql_endpoint.execute("SELECT version FROM infinitic_schema_version") == [(2,)]
    mysql_endpoint.execute("UPDATE infinitic_schema_version SET version = 99")
    error = _start_error(storage_on(mysql_endpoint))
    assert "schema version 99" in str(error) and "upgrade infinitic" in str(error)
    # a foreign table with our name but no schema row
    mysql_endpoint.execute("CREATE TABLE other_key_value_storage (id INT PRIMARY KEY)")
    error = _start_error(storage_on(mysql_endpoint, tablePrefix="other_"))
    assert "carries no infinitic schema version" in str(error)


@mysql
def test_table_prefixes_isolate_two_apps(mysql_endpoint: Endpoint) -> None:
    async def main() -> None:
        async with storage_on(mysql_endpoint, tablePrefix="app_a_") as a:
            async with storage_on(mysql_endpoint, tablePrefix="app_b_") as b:
                assert await a.put("workflow.state.1", b"from a", 0) == 1
                assert await b.get("workflow.state.1") is None
                assert await b.put("workflow.state.1", b"from b", 0) == 1
                assert await a.put("workflow.state.1", b"a again", 1) == 2
                assert await b.get("workflow.state.1") == (b"from b", 1)
                await a.add_to_set("tag", "id-a")
                await b.add_to_set("tag", "id-b")
                assert await a.get_set("tag") == frozenset({"id-a"})
                assert await b.get_set("tag") == frozenset({"id-b"})

    asyncio.run(main())
    tables = {row[0] for row in mysql_endpoint.execute("SHOW TABLES")}
    assert {"app_a_key_value_storage", "app_b_key_value_storage"} <= tables


# --- values too large --------------------------------------------------------------------------


@mysql
def test_value_over_the_configured_limit_fails_clearly(mysql_endpoint: Endpoint) -> None:
    async def main() -> None:
        async with storage_on(mysql_endpoint, maxValueBytes=1000) as s:
            assert await s.put("ok", b"x" * 1000, 0) == 1
            with pytest.raises(StorageError) as info:
                await s.put("big", b"x" * 1001, 0)
            assert "1,001 bytes, over maxValueBytes (1,000)" in str(info.value)
            assert "not written" in str(info.value)
            with pytest.raises(StorageError):  # all or nothing
                await s.put_many([("new", b"n", 0), ("ok", b"y" * 5000, 1)])
            assert await s.get_many(["big", "new", "ok"]) == {"ok": (b"x" * 1000, 1)}

    asyncio.run(main())


@mysql
def test_value_over_max_allowed_packet_fails_and_is_never_truncated(
    mysql_endpoint: Endpoint,
) -> None:
    packet = int(mysql_endpoint.execute("SELECT @@max_allowed_packet")[0][0])
    if packet > 64 * 1024 * 1024:
        pytest.skip(f"the server's max_allowed_packet ({packet}) is too large to test")

    async def main() -> None:
        async with storage_on(mysql_endpoint) as s:
            assert s.max_allowed_packet == packet
            with pytest.raises(StorageError) as info:
                await s.put("huge", b"\xff" * (packet + 1), 0)
            assert "does not fit the server's max_allowed_packet" in str(info.value)
            # NUL bytes are escaped to two bytes: a value of 60% of the packet does not fit
            with pytest.raises(StorageError, match="max_allowed_packet"):
                await s.put("nuls", b"\x00" * (packet * 6 // 10), 0)
            await s.put("small", b"s", 0)
            with pytest.raises(StorageError, match="max_allowed_packet"):
                await s.put_many([("other", b"o", 0), ("small", b"\xfe" * (packet + 1), 1)])
            # nothing written, the connections still work
            assert await s.get_many(["huge", "nuls", "other", "small"]) == {"small": (b"s", 1)}
            fits = bytes(range(256)) * ((packet // 2) // 256)
            assert await s.put("fits", fits, 0) == 1
            assert await s.get("fits") == (fits, 1)

    asyncio.run(main())


# --- concurrency -------------------------------------------------------------------------------


@mysql
def test_two_storages_racing_cas_on_one_key_lose_no_update(mysql_endpoint: Endpoint) -> None:
    """Two workers (two pools) increment one counter, reloading on conflict: none is lost."""

    async def main() -> None:
        first = storage_on(mysql_endpoint, poolSize=3)
        second = storage_on(mysql_endpoint, poolSize=3)
        await first.start()
        await second.start()
        conflicts = 0

        async def increment(s: Storage, times: int) -> None:
            nonlocal conflicts
            for _ in range(times):
                while True:
                    current = await s.get("counter")
                    value, version = (0, 0) if current is None else (int(current[0]), current[1])
                    try:
                        await s.put("counter", str(value + 1).encode(), version)
                        break
                    except VersionConflictError:
                        conflicts += 1

        try:
            await asyncio.gather(
                *(increment(first, 10) for _ in range(15)),
                *(increment(second, 10) for _ in range(15)),
            )
            assert await first.get("counter") == (b"300", 300)
            assert await second.get("counter") == (b"300", 300)
            assert conflicts > 0
        finally:
            await first.close()
            await second.close()

    asyncio.run(main())


def _restarter(server: MariaDBServer, when: threading.Event, kill: bool) -> threading.Thread:
    def run() -> None:
        when.wait(60)
        server.restart(kill=kill, down_seconds=0.5)

    return threading.Thread(target=run, name="mariadb-restarter")


@mysql
@pytest.mark.slow
@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_server_restart_during_concurrent_cas_writes_loses_nothing(
    mysql_private_server: MariaDBServer, kill: bool
) -> None:
    """300 writers each chain 20 compare-and-set writes on their key (and a tag set) while the
    server restarts: every write eventually returns the right version, none is lost or doubled."""
    writers, each = 300, 20
    with mysql_private_server.endpoint.fresh_database() as endpoint:
        halfway = threading.Event()
        restarter = _restarter(mysql_private_server, halfway, kill)
        done = 0

        async def writer(s: Storage, i: int) -> None:
            nonlocal done
            version = 0
            for n in range(each):
                version = await s.put(f"wf.{i}", f"{i}:{n}".encode(), version)
                assert version == n + 1
                await s.add_to_set(f"tag.{i % 7}", f"wf.{i}")
                done += 1
                if done == writers * each // 3:
                    halfway.set()
                await asyncio.sleep(random.random() * 0.002)

        async def main() -> None:
            s = storage_on(endpoint, poolSize=4, retryTimeoutSeconds=60)
            await s.start()
            try:
                restarter.start()
                await asyncio.gather(*(writer(s, i) for i in range(writers)))
                assert isinstance(s, MySQLStorage) and s.stats.reconnects >= 1, s.stats
                found = await s.get_many([f"wf.{i}" for i in range(writers)])
                assert found == {
                    f"wf.{i}": (f"{i}:{each - 1}".encode(), each) for i in range(writers)
                }
                tags = [await s.get_set(f"tag.{t}") for t in range(7)]
                assert sum(len(t) for t in tags) == writers
            finally:
                halfway.set()
                restarter.join()
                await s.close()

        asyncio.run(main())


@mysql
def test_operations_fail_clearly_when_the_server_stays_down(
    mysql_private_server: MariaDBServer,
) -> None:
    with mysql_private_server.endpoint.fresh_database() as endpoint:

        async def main() -> None:
            s = storage_on(endpoint, retryTimeoutSeconds=1.0, poolSize=2)
            await s.start()
            try:
                assert await s.put("k", b"v", 0) == 1
                mysql_private_server.crash()
                began = time.monotonic()
                with pytest.raises(StorageError, match="unreachable: gave up after 1s"):
                    await s.put("k", b"v2", 1)
                assert 0.9 < time.monotonic() - began < 15
                mysql_private_server.resume()
                assert await s.put("k", b"v2", 1) == 2  # back: it works again
            finally:
                await s.close()

        asyncio.run(main())


@mysql
def test_close_while_the_server_is_down_does_not_hang(
    mysql_private_server: MariaDBServer,
) -> None:
    with mysql_private_server.endpoint.fresh_database() as endpoint:

        async def main() -> None:
            s = storage_on(endpoint, retryTimeoutSeconds=600)
            await s.start()
            await s.put("k", b"v", 0)
            mysql_private_server.crash()
            pending = asyncio.ensure_future(s.put("k", b"v2", 1))
            await asyncio.sleep(0.3)
            began = time.monotonic()
            await s.close()
            assert time.monotonic() - began < 10
            with pytest.raises(StorageError, match="closed while the server was unreachable"):
                await pending

        asyncio.run(main())
        mysql_private_server.resume()


@mysql
def test_batches_share_transactions(mysql_endpoint: Endpoint) -> None:
    async def main() -> None:
        async with storage_on(mysql_endpoint, poolSize=2, clock=FakeClock()) as s:
            assert isinstance(s, MySQLStorage)
            await asyncio.gather(*(s.put(f"k{i}", b"v", 0) for i in range(500)))
            assert s.stats.writes == 500 and s.stats.transactions < 250, s.stats
            found = await asyncio.gather(*(s.get(f"k{i}") for i in range(500)))
            assert found == [(b"v", 1)] * 500
            assert s.stats.read_queries < 250, s.stats

    asyncio.run(main())


def _lose_next_commit(apply: bool) -> Any:
    """A pool-thread call that makes its connection's next COMMIT fail as if the link died,
    after (`apply`) or before the server received it."""

    def install(conn: Any) -> None:
        real = conn.commit

        def commit() -> None:
            if apply:
                real()
            else:
                conn.rollback()
            conn.commit = real  # once (the storage drops this connection anyway)
            raise MySQLdb.OperationalError(2013, "Lost connection to server during query")

        conn.commit = commit

    return install


@mysql
@pytest.mark.parametrize("applied", [True, False], ids=["applied", "not-applied"])
def test_a_lost_commit_is_neither_lost_nor_applied_twice(
    mysql_endpoint: Endpoint, applied: bool
) -> None:
    async def main() -> None:
        async with storage_on(mysql_endpoint, poolSize=1) as s:
            assert isinstance(s, MySQLStorage)
            await s.put("k", b"v1", 0)
            await s._call(_lose_next_commit(applied))
            assert await s.put("k", b"v2", 1) == 2
            await s._call(_lose_next_commit(applied))
            assert await s.put_many([("k", b"v3", 2), ("n", b"n", 0), ("k", None, 3)]) == [3, 1, 0]
            await s._call(_lose_next_commit(applied))
            assert await s.put("n", None, 1) == 0
            assert await s.get_many(["k", "n"]) == {}
            assert s.stats.unsure_commits == 3 and s.stats.reconnects == 3, s.stats

    asyncio.run(main())


@mysql
def test_a_lost_commit_overtaken_by_another_writer_is_reported(mysql_endpoint: Endpoint) -> None:
    async def main() -> None:
        async with storage_on(mysql_endpoint, poolSize=1) as s:
            assert isinstance(s, MySQLStorage)
            await s.put("k", b"v1", 0)

            def lose_and_overtake(conn: Any) -> None:
                real = conn.commit

                def commit() -> None:
                    real()
                    conn.commit = real
                    mysql_endpoint.execute(  # another worker writes version 3 meanwhile
                        "UPDATE infinitic_key_value_storage SET version = 3, value = 'other'"
                    )
                    raise MySQLdb.OperationalError(2006, "server has gone away")

                conn.commit = commit

            await s._call(lose_and_overtake)
            with pytest.raises(StorageError, match="whether this write was applied is unknown"):
                await s.put("k", b"v2", 1)
            assert await s.get("k") == (b"other", 3)

    asyncio.run(main())
