"""The Redis backend on a real server: the contract, auth, prefixes, limits, outages, races."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from .redis_server import REQUIRE_SERVERS, RedisServer, RedisServerFactory

try:
    import redis
except ImportError:  # pragma: no cover - depends on the environment
    if REQUIRE_SERVERS:
        raise
    pytest.skip(
        "the redis client is not installed: pip install 'infinitic[redis]'",
        allow_module_level=True,
    )

from infinitic.errors import ConfigError, StorageError, VersionConflictError
from infinitic.storage import create_storage
from infinitic.storage.base import Clock, Storage
from infinitic.storage.redis import SCHEMA_VERSION, RedisStorage, from_config

from .contract import StorageContract

pytestmark = pytest.mark.redis

MiB = 1024 * 1024


def new_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}:"


@contextmanager
def raw_client(server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(**server.storage_options_for_redis_py())
    try:
        yield client
    finally:
        client.close()


def run(body: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(body())


def storage_on(server: RedisServer, **kwargs: Any) -> RedisStorage:
    options: dict[str, Any] = {**server.storage_options(), "key_prefix": new_prefix()}
    options.update(kwargs)
    return RedisStorage(**options)


# --- the contract -------------------------------------------------------------------------------


class TestRedisStorage(StorageContract):
    @pytest.fixture(autouse=True)
    def _server(self, redis_server: RedisServer) -> None:
        self.server = redis_server
        self.prefix = new_prefix()

    async def make_storage(self, clock: Clock) -> Storage:
        return RedisStorage(**self.server.storage_options(), key_prefix=self.prefix, clock=clock)


class TestRedisStorageFromConfig(StorageContract):
    """Built by the factory from YAML-style (camelCase) options, a small pool."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_server: RedisServer) -> None:
        self.server = redis_server
        self.prefix = new_prefix()

    async def make_storage(self, clock: Clock) -> Storage:
        options = {
            "host": self.server.host,
            "port": self.server.port,
            "database": self.server.database,
            "poolSize": 2,
            "keyPrefix": self.prefix,
            "timeoutSeconds": 5,
            "retrySeconds": 5,
        }
        if self.server.password is not None:
            options.update(username=self.server.username, password=self.server.password)
        return create_storage({"redis": options}, clock=clock)


# --- configuration ------------------------------------------------------------------------------


def test_from_config_defaults_and_aliases() -> None:
    storage = from_config({"host": "redis.example", "port": 6380, "poolSize": 4})
    assert (storage.host, storage.port, storage.pool_size) == ("redis.example", 6380, 4)
    assert storage.key_prefix == "infinitic:" and storage.database == 0
    storage = from_config({"url": "rediss://bob:p%40ss@h:7000/3", "key_prefix": "app:"})
    assert (storage.host, storage.port, storage.username, storage.database) == ("h", 7000, "bob", 3)
    assert storage.ssl and storage.key_prefix == "app:"
    assert "p@ss" not in repr(storage)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": 1}, "storage.redis.colour: unknown option; expected one of createTables,"),
        ({"port": "6379"}, "storage.redis.port must be an integer between 1 and 65535"),
        ({"port": 0}, "storage.redis.port must be an integer"),
        ({"host": ""}, "storage.redis.host must be a non-empty string"),
        ({"database": -1}, "storage.redis.database must be an integer >= 0"),
        ({"poolSize": 0}, "storage.redis.poolSize must be an integer >= 1"),
        ({"ssl": "yes"}, "storage.redis.ssl must be true or false"),
        ({"keyPrefix": 3}, "storage.redis.keyPrefix must be a string"),
        ({"timeoutSeconds": 0}, "storage.redis.timeoutSeconds must be a finite number > 0"),
        ({"retrySeconds": -1}, "storage.redis.retrySeconds must be a finite number >= 0"),
        ({"createTables": 1}, "storage.redis.createTables must be true or false"),
        ({"maxValueBytes": 600 * MiB}, "storage.redis.maxValueBytes must be an integer between"),
        ({"password": 1234}, "storage.redis.password must be a string"),
        ({"poolSize": 2, "pool_size": 3}, "storage.redis.pool_size: poolSize is given twice"),
        ({"url": "http://x"}, "storage.redis.url must start with redis://"),
        ({"url": "redis://x", "port": 1}, "storage.redis.url: give either url or host"),
    ],
)
def test_config_errors_name_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_storage({"redis": options})
    assert str(info.value).startswith(message), str(info.value)


# --- start: auth, unreachable server, database, schema ------------------------------------------


def test_password_auth(redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """An ACL user: right password works; wrong or missing fails at start, saying why, secretly."""
    user, secret, wrong = f"u-{uuid.uuid4().hex[:8]}", "s3cret-Pa55word", "not-the-Pa55word"
    reply = redis_server.send("ACL", "SETUSER", user, "on", f">{secret}", "~*", "&*", "+@all")
    if reply != b"+OK":
        pytest.skip(f"cannot create an ACL user on this server: {reply!r}")
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        opts = {**redis_server.storage_options(), "username": user, "key_prefix": new_prefix()}
        async with RedisStorage(**{**opts, "password": secret}) as storage:
            assert await storage.put("k", b"v", 0) == 1
        for password in (wrong, None):
            storage = RedisStorage(**{**opts, "password": password})
            with pytest.raises(StorageError) as info:
                await storage.start()
            message = str(info.value)
            assert "authentication" in message and user in message, message
            assert secret not in message and wrong not in message
            assert info.value.__cause__ is None and info.value.__context__ is not None
            await storage.close()  # nothing to close: no error

    try:
        run(main)
    finally:
        redis_server.send("ACL", "DELUSER", user)
    for record in caplog.records:
        assert secret not in record.getMessage() and wrong not in record.getMessage()


def test_requirepass_on_the_default_user(redis_server_factory: RedisServerFactory) -> None:
    server = redis_server_factory()
    secret = "only-the-Server-knows"
    assert server.send("CONFIG", "SET", "requirepass", secret) == b"+OK"
    server.password = secret  # so the harness can still stop it

    async def main() -> None:
        for password in (None, "guess"):
            storage = storage_on(server, password=password)
            with pytest.raises(StorageError, match="authentication to 127.0.0.1:") as info:
                await storage.start()
            assert secret not in str(info.value) and "guess" not in str(info.value)
        async with storage_on(server, password=secret) as storage:
            assert await storage.put("k", b"v", 0) == 1
            assert secret not in repr(storage)

    run(main)


def test_unreachable_server_fails_at_start() -> None:
    import socket

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> None:
        storage = RedisStorage(host="127.0.0.1", port=port, password="hush-hush", timeout_seconds=2)
        started = time.monotonic()
        with pytest.raises(StorageError) as info:
            await storage.start()
        assert time.monotonic() - started < 5
        message = str(info.value)
        assert message.startswith(
            f"redis storage: cannot connect to the Redis server at 127.0.0.1:{port}"
        )
        assert "hush-hush" not in message
        with pytest.raises(StorageError, match="not started"):
            await storage.get("k")

    run(main)


def test_missing_database_fails_at_start(redis_server: RedisServer) -> None:
    async def main() -> None:
        storage = storage_on(redis_server, database=99)
        with pytest.raises(StorageError, match="database 99 does not exist"):
            await storage.start()

    run(main)


def test_schema_version_key(redis_server: RedisServer) -> None:
    prefix = new_prefix()

    async def main() -> None:
        with pytest.raises(
            StorageError, match="no infinitic schema under key prefix .*createTables"
        ):
            await storage_on(redis_server, key_prefix=prefix, create_tables=False).start()
        async with storage_on(redis_server, key_prefix=prefix):
            pass
        with raw_client(redis_server) as raw:
            assert raw.get(f"{prefix}meta:schema") == str(SCHEMA_VERSION).encode()
        async with storage_on(redis_server, key_prefix=prefix, create_tables=False):
            pass
        with raw_client(redis_server) as raw:
            raw.set(f"{prefix}meta:schema", str(SCHEMA_VERSION + 1))
        with pytest.raises(StorageError, match="newer than this release knows"):
            await storage_on(redis_server, key_prefix=prefix).start()
        with raw_client(redis_server) as raw:
            raw.set(f"{prefix}meta:schema", "banana")
        with pytest.raises(StorageError, match="not an infinitic schema version"):
            await storage_on(redis_server, key_prefix=prefix).start()

    run(main)


# --- keys ---------------------------------------------------------------------------------------


def test_key_prefix_isolation(redis_server: RedisServer) -> None:
    one, two = new_prefix(), new_prefix()

    async def main() -> None:
        async with storage_on(redis_server, key_prefix=one) as a:
            async with storage_on(redis_server, key_prefix=two) as b:
                assert await a.put("k", b"from a", 0) == 1
                assert await b.get("k") is None
                assert await b.put("k", b"from b", 0) == 1
                assert await a.put("k", b"a again", 1) == 2
                assert await b.get("k") == (b"from b", 1)
                await a.add_to_set("tag", "id-a")
                await b.add_to_set("tag", "id-b")
                assert await a.get_set("tag") == frozenset({"id-a"})
                await a.put("gone", b"x", 0, ttl_seconds=0.05)
                await asyncio.sleep(0.1)
                assert await b.purge_expired() == 0
                assert await a.purge_expired() == 1

    run(main)
    with raw_client(redis_server) as raw:
        keys = sorted(raw.scan_iter(match=f"{one}*"))
        assert keys == [
            f"{one}{name}".encode() for name in ("kv:k", "meta:schema", "set:tag", "ver:k")
        ]
        assert raw.ttl(f"{one}kv:k") == -1


def test_ttl_is_set_on_value_and_version_keys(redis_server: RedisServer) -> None:
    prefix = new_prefix()

    async def main() -> None:
        async with storage_on(redis_server, key_prefix=prefix) as s:
            await s.put("done", b"result", 0, ttl_seconds=60)
            await s.put("soon", b"result", 0, ttl_seconds=0.2)
            with raw_client(redis_server) as raw:
                for kind in ("kv", "ver"):
                    assert 59_000 < raw.pttl(f"{prefix}{kind}:done") <= 60_000
                assert raw.zcard(f"{prefix}meta:expiring") == 2
            await s.put("done", b"kept", 1)  # no ttl: persists again, leaves the index
            with raw_client(redis_server) as raw:
                assert raw.pttl(f"{prefix}kv:done") == -1
                assert raw.zscore(f"{prefix}meta:expiring", f"{prefix}ver:done") is None
            await asyncio.sleep(0.3)
            with raw_client(redis_server) as raw:  # Redis dropped them itself
                assert raw.exists(f"{prefix}kv:soon", f"{prefix}ver:soon") == 0
            assert await s.get("soon") is None
            assert await s.purge_expired() == 1  # ...and the index entry goes now
            with raw_client(redis_server) as raw:
                assert raw.zcard(f"{prefix}meta:expiring") == 0

    run(main)


# --- limits -------------------------------------------------------------------------------------


def test_value_size_limit(redis_server: RedisServer) -> None:
    async def main() -> None:
        async with storage_on(redis_server, max_value_bytes=MiB) as s:
            assert await s.put("k", b"x" * MiB, 0) == 1
            with pytest.raises(StorageError) as info:
                await s.put("k", b"y" * (MiB + 1), 1)
            assert str(info.value) == (
                "redis storage: the value of key 'k' is 1,048,577 bytes, over the limit of "
                "1,048,576 bytes (storage.redis.maxValueBytes, or the server's "
                "proto-max-bulk-len); nothing was written"
            )
            with pytest.raises(StorageError, match="over the limit"):
                await s.put_many([("a", b"small", 0), ("b", b"z" * (2 * MiB), 0)])
            assert await s.get_many(["a", "b"]) == {}
            got = await s.get("k")
            assert got is not None and got[1] == 1 and len(got[0]) == MiB  # never truncated

    run(main)


def test_server_limit_lowers_the_value_limit(redis_server_factory: RedisServerFactory) -> None:
    server = redis_server_factory()
    assert server.send("CONFIG", "SET", "proto-max-bulk-len", str(MiB)) == b"+OK"

    async def main() -> None:
        async with storage_on(server) as s:
            assert s.value_limit == MiB
            with pytest.raises(StorageError, match="over the limit of 1,048,576 bytes"):
                await s.put("big", b"x" * (2 * MiB), 0)
            assert await s.get("big") is None

    run(main)


# --- scripts ------------------------------------------------------------------------------------


def test_script_cache_flush_falls_back_to_eval(redis_server: RedisServer) -> None:
    async def main() -> None:
        async with storage_on(redis_server) as s:
            await s.put("k", b"1", 0)
            assert redis_server.send("SCRIPT", "FLUSH") == b"+OK"
            loads = s.stats.script_loads
            assert await s.put("k", b"2", 1) == 2
            assert await s.put("k", b"3", 2) == 3
            assert s.stats.script_loads == loads + 1  # EVAL re-cached it

    run(main)


# --- concurrency and outages --------------------------------------------------------------------


async def increment(storage: Storage, key: str) -> int:
    """Read-modify-write until the compare-and-set wins; returns the conflicts met."""
    conflicts = 0
    while True:
        current = await storage.get(key)
        value, version = (b"0", 0) if current is None else current
        await asyncio.sleep(0)
        try:
            await storage.put(key, str(int(value) + 1).encode(), version)
            return conflicts
        except VersionConflictError:
            conflicts += 1


def test_two_storages_race_on_one_key(redis_server: RedisServer) -> None:
    prefix = new_prefix()

    async def main() -> None:
        async with storage_on(redis_server, key_prefix=prefix) as a:
            async with storage_on(redis_server, key_prefix=prefix, pool_size=4) as b:
                results = await asyncio.gather(
                    *(increment(a if i % 2 else b, "counter") for i in range(200))
                )
                assert await a.get("counter") == (b"200", 200)
                assert await b.get("counter") == (b"200", 200)
                assert sum(results) > 0  # they really raced

    run(main)


def test_restart_during_concurrent_writes_loses_nothing(
    redis_server_factory: RedisServerFactory,
) -> None:
    """Redis restarts (saved, down 1 s) while 300 writers run; every write lands exactly once."""
    server = redis_server_factory()
    counters, rounds, joiners = 200, 15, 100

    async def count(s: Storage, key: str) -> None:
        for _ in range(rounds):  # the only writer of its key: the count must be exact
            await increment(s, key)
            await asyncio.sleep(0.005)

    async def join(s: Storage, member: str) -> None:
        while True:  # many writers of one key, each adds itself once (idempotent)
            current = await s.get("members")
            value, version = (b"", 0) if current is None else current
            if member.encode() in value.split(b","):
                return
            try:
                await s.put("members", value + b"," + member.encode(), version)
            except VersionConflictError:
                await asyncio.sleep(0.001)

    async def main() -> None:
        async with storage_on(server, retry_seconds=30, pool_size=32) as s:
            writers = [asyncio.create_task(count(s, f"c{i}")) for i in range(counters)]
            writers += [asyncio.create_task(join(s, f"m{i}")) for i in range(joiners)]
            await asyncio.sleep(0.03)
            assert not all(w.done() for w in writers)
            await asyncio.to_thread(server.restart, 1.0)
            await asyncio.gather(*writers)
            found = await s.get_many([f"c{i}" for i in range(counters)])
            assert found == {f"c{i}": (str(rounds).encode(), rounds) for i in range(counters)}
            members = await s.get("members")
            assert members is not None
            assert set(members[0].split(b",")) - {b""} == {f"m{i}".encode() for i in range(joiners)}
            assert s.stats.retries > 0  # the writers did go through the outage

    run(main)


def test_outage_longer_than_retry_seconds_raises(redis_server_factory: RedisServerFactory) -> None:
    server = redis_server_factory()

    async def main() -> None:
        storage = storage_on(server, retry_seconds=0.5, password=None)
        async with storage as s:
            await s.put("k", b"v", 0)
            server.stop()
            started = time.monotonic()
            with pytest.raises(StorageError, match="is unreachable .gave up after") as info:
                await s.put("k", b"w", 1)
            assert 0.4 < time.monotonic() - started < 5
            assert f"127.0.0.1:{server.port}/0" in str(info.value)
            with pytest.raises(StorageError, match="unreachable"):
                await s.get("k")

    run(main)


def test_a_write_whose_reply_is_lost_is_not_reported_as_a_conflict(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The script runs, then the connection drops before the reply: the retry sees its token."""

    async def main() -> None:
        async with storage_on(redis_server) as s:
            original = s._script
            lose = {"count": 0}

            async def flaky(*args: Any) -> Any:
                result = await original(*args)
                if lose["count"]:
                    lose["count"] -= 1
                    raise redis.exceptions.ConnectionError("Connection reset by peer (simulated)")
                return result

            monkeypatch.setattr(s, "_script", flaky)
            lose["count"] = 1
            assert await s.put("k", b"v1", 0) == 1
            lose["count"] = 1
            assert await s.put_many([("k", b"v2", 1), ("k", b"v3", 2), ("other", b"o", 0)]) == [
                2,
                3,
                1,
            ]
            lose["count"] = 1
            assert await s.put_many([("k", None, 3), ("other", b"o2", 1)]) == [0, 2]
            lose["count"] = 1
            assert await s.put("other", None, 2) == 0
            assert s.stats.recovered_writes == 4 and s.stats.retries == 4
            assert await s.get_many(["k", "other"]) == {}
            # a real conflict is still one, on a retry too
            await s.put("k", b"x", 0)
            await s.put("k", b"y", 1)
            lose["count"] = 1
            with pytest.raises(VersionConflictError):
                await s.put("k", b"late", 1)  # it failed on its first attempt already

    run(main)


def test_connections_killed_during_concurrent_writes(
    redis_server_factory: RedisServerFactory,
) -> None:
    """Every client connection is killed again and again while 100 writers count.

    The writers go on past their rounds until a kill has landed in the middle of an
    operation (a fast run can otherwise finish between two kills), so the test always
    checks what it is about: no increment lost or doubled across the reconnections.
    """
    server = redis_server_factory()
    counters, rounds = 100, 20
    done: dict[str, int] = {}

    async def count(s: Storage, key: str, deadline: float) -> None:
        n = 0
        while n < rounds or (s.stats.retries == 0 and time.monotonic() < deadline):
            await increment(s, key)
            n += 1
            await asyncio.sleep(0.002)
        done[key] = n

    async def main() -> None:
        async with storage_on(server, pool_size=16) as s:
            deadline = time.monotonic() + 60
            keys = [f"c{i}" for i in range(counters)]
            writers = [asyncio.create_task(count(s, k, deadline)) for k in keys]
            while not all(w.done() for w in writers):
                await asyncio.to_thread(server.send, "CLIENT", "KILL", "TYPE", "normal")
                await asyncio.sleep(0.1)
            await asyncio.gather(*writers)
            assert s.stats.retries > 0, "no kill landed in 60 s of writing"
            found = await s.get_many(keys)
            assert found == {k: (str(done[k]).encode(), done[k]) for k in keys}

    run(main)
