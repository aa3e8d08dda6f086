"""Redis storage on redis-py's asyncio client (hiredis parser when installed).

Layout (every key starts with the configurable prefix, ``infinitic:`` by default)::

    {prefix}kv:{key}        the value (a plain string of bytes)
    {prefix}ver:{key}       "{version}|{expires_at_ms or empty}|{write token}"
    {prefix}set:{key}       a key set (a Redis SET of members)
    {prefix}meta:schema     the schema version (written at start)
    {prefix}meta:expiring   sorted set: version key -> expiry (ms), read by `purge_expired`

Every compare-and-set (`put`, `put_many`) runs as ONE Lua script (`_redis_scripts`; EVALSHA,
falling back to EVAL when the server answers NOSCRIPT, e.g. after a restart): it checks every expected version, then
writes every value, so a batch is atomic and needs one round trip, with no WATCH/MULTI retries.
Values with a time to live get ``PX`` on both keys, so Redis drops them itself; the expiry time is
also kept in the version key and checked against the storage's clock, so an expired entry reads
as absent even before Redis deletes it (and tests can move a fake clock).

Connection loss: each operation is retried with a capped exponential backoff until the server is
back or ``retrySeconds`` have passed (then `StorageError`). A write whose reply was lost is
recognized on its retry by its write token, so it is reported as done instead of as a conflict.
Commands go through `_redis_wire` (pipelined, one write per event-loop turn, hiredis replies);
redis-py checks the server at start. See docs/storage.md, "Redis".
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    NoScriptError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..common.options import OptionNames
from ..errors import ConfigError, StorageError
from ._redis_scripts import (
    CAS_SCRIPT,
    CAS_SHA,
    INDEX_PURGE_SCRIPT,
    INDEX_PURGE_SHA,
    PURGE_SCRIPT,
    PURGE_SHA,
)
from ._redis_wire import RedisWire
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

__all__ = ["DEFAULT_KEY_PREFIX", "MAX_VALUE_BYTES", "SCHEMA_VERSION", "RedisStorage", "from_config"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_KEY_PREFIX = "infinitic:"
#: Redis's hard limit on one string (``proto-max-bulk-len``, 512 MB by default)
MAX_VALUE_BYTES = 512 * 1024 * 1024
#: Redis closes a connection whose pending request exceeds ``client-query-buffer-limit`` (1 GB)
MAX_REQUEST_BYTES = 1024 * 1024 * 1024 - 1024 * 1024
_MGET_CHUNK = 500  # keys per MGET (two Redis keys each)
_PURGE_CHUNK = 1000  # index entries per purge script call (keeps each call short)

T = TypeVar("T")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@dataclass
class RedisStats:
    """Counters for tests and benchmarks."""

    retries: int = 0  # operation attempts repeated after a connection loss
    recovered_writes: int = 0  # writes found already applied when retried after a lost reply
    script_loads: int = 0  # EVAL fallbacks after NOSCRIPT


# --- configuration ----------------------------------------------------------------------------

# constructor argument -> config option (camelCase as in the YAML, snake_case accepted too)
_OPTIONS = OptionNames(
    {
        "url": "url",
        "host": "host",
        "port": "port",
        "username": "username",
        "password": "password",
        "database": "database",
        "ssl": "ssl",
        "ssl_ca_certs": "sslCaCerts",
        "pool_size": "poolSize",
        "key_prefix": "keyPrefix",
        "timeout_seconds": "timeoutSeconds",
        "retry_seconds": "retrySeconds",
        "create_tables": "createTables",
        "max_value_bytes": "maxValueBytes",
    },
    aliases={"user": "username"},
    secrets=("password", "url"),  # a secret, if mistyped
)


def _int(name: str, value: object, low: int, high: int | None = None) -> int:
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        raise _OPTIONS.bad(name, f"an integer {bound}", value)
    return value


def _seconds(name: str, value: object, *, zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _OPTIONS.bad(name, "a number of seconds", value)
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise _OPTIONS.bad(name, f"a finite number {bound}", value)
    return seconds


def _str(name: str, value: object, *, optional: bool = False, empty: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not value and not empty):
        raise _OPTIONS.bad(name, "a string" if empty else "a non-empty string", value)
    return value


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _OPTIONS.bad(name, "true or false", value)
    return value


def from_config(options: Mapping[str, Any], *, clock: Clock | None = None) -> RedisStorage:
    """The (not started) `RedisStorage` of the ``storage: {redis: {...}}`` configuration entry."""
    key = "storage.redis"
    kwargs = _OPTIONS.arguments(options, key)
    try:
        return RedisStorage(clock=clock, **kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{key}.{exc}") from None


# --- the storage ------------------------------------------------------------------------------


class RedisStorage(Storage):
    """`Storage` on a Redis server (5.0 or later), shared safely by any number of workers.

    Args:
        url: ``redis://[user[:password]@]host[:port][/database]`` (``rediss://`` for TLS);
            exclusive with host, port, username, password, database and ssl.
        host, port: the server (default ``localhost:6379``).
        username, password: ACL user and password (``AUTH``); never logged.
        database: the database number (``SELECT``), default 0.
        ssl: connect with TLS (certificates verified); ssl_ca_certs: a CA bundle file.
        pool_size: most connections open at once (callers beyond it wait for one).
        key_prefix: prepended to every Redis key, so several apps can share a server.
        timeout_seconds: connect and per-command socket timeout.
        retry_seconds: how long an operation keeps retrying through a connection loss before
            raising `StorageError` (0: no retry).
        create_tables: write the schema version key at start when missing (else start fails).
        max_value_bytes: largest value accepted; a larger one raises `StorageError`.
        clock: wall clock used for expiry (default `time.time`).
    """

    backend = "redis"

    def __init__(
        self,
        *,
        url: str | None = None,
        host: str = "localhost",
        port: int = 6379,
        username: str | None = None,
        password: str | None = None,
        database: int = 0,
        ssl: bool = False,
        ssl_ca_certs: str | None = None,
        pool_size: int = 16,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        timeout_seconds: float = 10.0,
        retry_seconds: float = 30.0,
        create_tables: bool = True,
        max_value_bytes: int = MAX_VALUE_BYTES,
        clock: Clock | None = None,
    ) -> None:
        if url is not None:
            url = _str("url", url)
            assert url is not None
            defaults = (host, port, username, password, database, ssl)
            if defaults != ("localhost", 6379, None, None, 0, False):
                raise ConfigError(
                    "url: give either url or host/port/username/password/database/ssl, not both"
                )
            host, port, username, password, database, ssl = _parse_url(url)
        self.host = _str("host", host) or "localhost"
        self.port = _int("port", port, 1, 65535)
        self.username = _str("username", username, optional=True)
        self._password = _str("password", password, optional=True, empty=True)
        self.database = _int("database", database, 0)
        self.ssl = _bool("ssl", ssl)
        self.ssl_ca_certs = _str("ssl_ca_certs", ssl_ca_certs, optional=True)
        self.pool_size = _int("pool_size", pool_size, 1)
        self.key_prefix = _str("key_prefix", key_prefix, empty=True) or ""
        self.timeout_seconds = _seconds("timeout_seconds", timeout_seconds, zero=False)
        self.retry_seconds = _seconds("retry_seconds", retry_seconds, zero=True)
        self.create_tables = _bool("create_tables", create_tables)
        self.max_value_bytes = _int("max_value_bytes", max_value_bytes, 1, MAX_VALUE_BYTES)
        self._clock: Clock = clock or time.time
        self.stats = RedisStats()
        #: the limit applied: max_value_bytes, lowered to the server's proto-max-bulk-len
        self.value_limit = self.max_value_bytes
        prefix = _encode(self.key_prefix)
        self._kv_prefix = prefix + b"kv:"
        self._ver_prefix = prefix + b"ver:"
        self._set_prefix = prefix + b"set:"
        self._schema_key = prefix + b"meta:schema"
        self._index_key = prefix + b"meta:expiring"
        self._prefix = prefix
        self._tokens = itertools.count(1)
        self._token_base = os.urandom(6).hex()
        self._pipe: RedisWire | None = None
        self._state = "new"
        self._start_lock = asyncio.Lock()

    @property
    def address(self) -> str:
        """host:port/database, for messages (never the password)."""
        return f"{self.host}:{self.port}/{self.database}"

    def __repr__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"RedisStorage({user}{self.address}, key_prefix={self.key_prefix!r})"

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._start_lock:
            if self._state == "started":
                return
            kwargs: dict[str, Any] = {
                "host": self.host,
                "port": self.port,
                "db": self.database,
                "username": self.username,
                "password": self._password,
                "socket_timeout": self.timeout_seconds,
                "socket_connect_timeout": self.timeout_seconds,
                "socket_keepalive": True,
                "retry": Retry(NoBackoff(), 0),  # retries are ours: see _call
                "client_name": "infinitic",
                "connection_class": SSLConnection if self.ssl else Connection,
            }
            if self.ssl and self.ssl_ca_certs:
                kwargs["ssl_ca_certs"] = self.ssl_ca_certs
            # redis-py checks the server once (its errors say what is wrong); the commands then
            # go through the wire (see _redis_wire for why)
            pool = BlockingConnectionPool(max_connections=1, timeout=None, **kwargs)
            client = Redis(connection_pool=pool)
            try:
                await self._prepare(client)
            finally:
                await client.aclose()
                await pool.aclose()
            self._pipe = RedisWire(
                host=self.host,
                port=self.port,
                username=self.username,
                password=self._password,
                database=self.database,
                ssl=self.ssl,
                ssl_ca_certs=self.ssl_ca_certs,
                client_name="infinitic",
                timeout=self.timeout_seconds,
                width=self.pool_size,
            )
            self._state = "started"
            logger.info("redis storage started on %s, key prefix %r", self.address, self.key_prefix)

    async def _prepare(self, client: Redis) -> None:
        who = f" as user {self.username!r}" if self.username else ""
        try:
            await client.ping()
            await self._check_schema(client)
            await self._read_server_limit(client)
            for script in (
                CAS_SCRIPT,
                PURGE_SCRIPT,
                INDEX_PURGE_SCRIPT,
            ):  # else the first EVALSHAs miss
                await client.script_load(script)
        except AuthenticationError as exc:
            hint = "username or password" if self.username else "password"
            raise StorageError(
                f"redis storage: authentication to {self.host}:{self.port}{who} failed: wrong "
                f"{hint}, or none given to a server that needs one ({self._clean(exc)}); "
                "check storage.redis.username / storage.redis.password"
            ) from None
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            if self.ssl and "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise StorageError(
                    f"redis storage: TLS to {self.host}:{self.port} failed: the server's "
                    f"certificate is not trusted ({self._clean(exc)}); check "
                    "storage.redis.sslCaCerts (the CA that signed it) and storage.redis.host"
                ) from None
            raise StorageError(
                f"redis storage: cannot connect to the Redis server at {self.host}:{self.port} "
                f"({self._clean(exc)}); is it running, and are storage.redis.host / port / ssl "
                "right?"
            ) from None
        except ResponseError as exc:
            message = self._clean(exc)
            if "DB index" in message or "invalid DB" in message:
                raise StorageError(
                    f"redis storage: database {self.database} does not exist on "
                    f"{self.host}:{self.port} ({message}); check storage.redis.database"
                ) from None
            raise StorageError(
                f"redis storage: the server at {self.address}{who} refused to start the "
                f"storage: {message}"
            ) from None

    async def _check_schema(self, client: Redis) -> None:
        raw = await client.get(self._schema_key)
        if raw is None:
            if not self.create_tables:
                raise StorageError(
                    f"redis storage: no infinitic schema under key prefix {self.key_prefix!r} on "
                    f"{self.address} (key {self._schema_key.decode(errors='replace')!r} is "
                    "missing) and createTables is false"
                )
            await client.set(self._schema_key, str(SCHEMA_VERSION), nx=True)
            raw = await client.get(self._schema_key)
        try:
            version = int(cast("bytes", raw))
        except (TypeError, ValueError):
            raise StorageError(
                f"redis storage: key {self._schema_key.decode(errors='replace')!r} on "
                f"{self.address} holds {raw!r}, not an infinitic schema version; is the key "
                "prefix used by another application?"
            ) from None
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"redis storage: the data under key prefix {self.key_prefix!r} on "
                f"{self.address} has schema version {version}, newer than this release "
                f"knows ({SCHEMA_VERSION}); upgrade infinitic"
            )

    async def _read_server_limit(self, client: Redis) -> None:
        try:
            config = await client.config_get("proto-max-bulk-len")
        except ResponseError:  # CONFIG disabled or not allowed (managed Redis): keep ours
            return
        values = cast("dict[Any, Any]", config)
        raw = values.get(b"proto-max-bulk-len", values.get("proto-max-bulk-len"))
        try:
            server_limit = int(cast("bytes", raw))
        except (TypeError, ValueError):
            return
        self.value_limit = min(self.max_value_bytes, server_limit)

    async def close(self) -> None:
        async with self._start_lock:
            if self._state != "started":
                return
            self._state = "closing"
            pipe, self._pipe = self._pipe, None
            try:
                if pipe is not None:
                    await pipe.close()
            finally:
                self._state = "closed"

    # --- plumbing --------------------------------------------------------------------------

    def _clean(self, error: BaseException) -> str:
        """The error's message, with the password (should it ever appear) masked."""
        message = str(error) or type(error).__name__
        if self._password:
            message = message.replace(self._password, "***")
        return message

    def _open_client(self) -> RedisWire:
        if self._state != "started" or self._pipe is None:
            raise not_started(self, self._state)
        return self._pipe

    async def _call(self, what: str, operation: Callable[[RedisWire, int], Awaitable[T]]) -> T:
        """Run `operation(client, attempt)`, retrying through connection losses."""
        client = self._open_client()
        attempt = 0
        deadline = 0.0
        delay = 0.05
        while True:
            try:
                return await operation(client, attempt)
            except AuthenticationError as exc:
                raise StorageError(
                    f"redis storage: {what}: authentication to {self.address} failed "
                    f"({self._clean(exc)})"
                ) from None
            except (RedisConnectionError, RedisTimeoutError) as exc:
                error: RedisError = exc
            except ResponseError as exc:
                message = self._clean(exc)
                transient = isinstance(exc, ReadOnlyError) or message.startswith(
                    ("LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN")
                )
                if not transient:
                    raise StorageError(
                        f"redis storage: {what} failed on {self.address}: {message}"
                    ) from None
                error = exc
            if self._state != "started":
                raise not_started(self, self._state)
            now = time.monotonic()
            if attempt == 0:
                deadline = now + self.retry_seconds
                logger.warning(
                    "redis storage: %s: lost the server at %s (%s); retrying for up to %.1f s",
                    what,
                    self.address,
                    self._clean(error),
                    self.retry_seconds,
                )
            if now >= deadline:
                raise StorageError(
                    f"redis storage: {what} failed: the server at {self.address} is unreachable "
                    f"(gave up after {attempt + 1} attempts in {self.retry_seconds:g} s; last "
                    f"error: {self._clean(error)})"
                ) from None
            attempt += 1
            self.stats.retries += 1
            await asyncio.sleep(min(delay * (0.5 + random.random()), max(0.0, deadline - now)))
            delay = min(delay * 2, 1.0)
            client = self._open_client()

    async def _script(
        self, client: RedisWire, script: str, sha: str, keys: Sequence[bytes], args: Sequence[Any]
    ) -> Any:
        try:
            return await client.execute("EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:  # script cache empty (server restarted, or SCRIPT FLUSH)
            self.stats.script_loads += 1
            return await client.execute("EVAL", script, len(keys), *keys, *args)

    def _now_ms(self) -> int:
        return round(self._clock() * 1000)

    # --- key-value -------------------------------------------------------------------------

    def _live(
        self, value: bytes | None, meta: bytes | None, now_ms: int
    ) -> tuple[bytes, int] | None:
        if value is None or meta is None:
            return None
        version, _, rest = meta.partition(b"|")
        expires_at = rest.partition(b"|")[0]
        if expires_at and int(expires_at) <= now_ms:
            return None
        return value, int(version)

    async def _mget(self, what: str, keys: Sequence[bytes]) -> list[bytes | None]:
        async def read(client: RedisWire, attempt: int) -> list[bytes | None]:
            return cast("list[bytes | None]", await client.execute("MGET", *keys))

        return await self._call(what, read)

    async def get(self, key: str) -> tuple[bytes, int] | None:
        self._open_client()
        raw = _encode(check_key(key))
        value, meta = await self._mget("get", (self._kv_prefix + raw, self._ver_prefix + raw))
        return self._live(value, meta, self._now_ms())

    async def get_many(self, keys: Sequence[str]) -> dict[str, tuple[bytes, int]]:
        self._open_client()
        unique = list(dict.fromkeys(check_key(key) for key in keys))
        found: dict[str, tuple[bytes, int]] = {}
        for start in range(0, len(unique), _MGET_CHUNK):
            chunk = unique[start : start + _MGET_CHUNK]
            redis_keys: list[bytes] = []
            for key in chunk:
                raw = _encode(key)
                redis_keys += (self._kv_prefix + raw, self._ver_prefix + raw)
            values = await self._mget("get_many", redis_keys)
            now_ms = self._now_ms()
            for i, key in enumerate(chunk):
                live = self._live(values[2 * i], values[2 * i + 1], now_ms)
                if live is not None:
                    found[key] = live
        return found

    async def put_many(
        self,
        writes: Sequence[Write],
        *,
        ttl_seconds: float | None = None,
        index: IndexEntry | None = None,
    ) -> list[int]:
        self._open_client()
        ttl = check_ttl(ttl_seconds)
        checked = [(check_key(k), check_value(v), check_expected(e)) for k, v, e in writes]
        if not checked:
            return []
        total = 0
        for key, value, _ in checked:
            if value is not None:
                total += len(value)
                if len(value) > self.value_limit:
                    raise StorageError(
                        f"redis storage: the value of key {key!r} is {len(value):,} bytes, over "
                        f"the limit of {self.value_limit:,} bytes (storage.redis.maxValueBytes, "
                        "or the server's proto-max-bulk-len); nothing was written"
                    )
        if total > MAX_REQUEST_BYTES:
            raise StorageError(
                f"redis storage: put_many of {len(checked)} values totalling {total:,} bytes is "
                f"over {MAX_REQUEST_BYTES:,} bytes, more than Redis accepts in one request "
                "(client-query-buffer-limit); nothing was written"
            )
        now = self._clock()
        now_ms = round(now * 1000)
        if ttl is None:
            ttl_ms, expires_at = 0, ""
        else:
            ttl_ms = max(1, round(ttl * 1000))
            expires_at = str(round((now + ttl) * 1000))
        token = f"{self._token_base}{next(self._tokens):x}"
        keys: list[bytes] = []
        args: list[Any] = [now_ms, ttl_ms, expires_at or "0", 0]
        versions: list[int] = []
        for key, value, expected in checked:
            raw = _encode(key)
            keys += (self._kv_prefix + raw, self._ver_prefix + raw)
            if value is None:
                args += (expected, b"", b"")
                versions.append(0)
            else:
                args += (expected, f"{expected + 1}|{expires_at}|{token}", value)
                versions.append(expected + 1)
        keys.append(self._index_key)
        if index is not None:
            args += self._index_args(index, expires_at)

        async def write(client: RedisWire, attempt: int) -> Any:
            args[3] = 1 if attempt else 0
            return await self._script(client, CAS_SCRIPT, CAS_SHA, keys, args)

        result = await self._call("put" if len(checked) == 1 else "put_many", write)
        failed = int(result[0])
        if len(result) > 1 and not failed:
            self.stats.recovered_writes += 1
            logger.info("redis storage: a write whose reply was lost had been applied")
        if failed:
            key, _, expected = checked[failed - 1]
            raise version_conflict(key, expected, int(result[1]))
        return versions

    def _index_args(self, entry: IndexEntry, expires_at: str) -> list[Any]:
        row = {
            "s": entry.status,
            "t": sorted(entry.tags),
            "u": entry.started_us,
            "a": entry.updated_at,
            "x": int(expires_at or 0),
        }
        return [
            self._prefix,
            _encode(entry.member),
            _encode(entry.name),
            entry.status,
            orjson.dumps(row),
            entry.started_us,
            expires_at,
            *(_encode(tag) for tag in sorted(entry.tags)),
        ]

    def _index_set(self, query: IndexQuery) -> bytes:
        p = self._prefix + b"idx:"
        if query.tag is not None:
            return p + b"t:" + _encode(query.tag)
        if query.name is not None and query.status is not None:
            return p + b"ns:" + _encode(query.name) + b"\x00" + query.status.encode()
        if query.name is not None:
            return p + b"n:" + _encode(query.name)
        if query.status is not None:
            return p + b"s:" + query.status.encode()
        return p + b"all"

    async def list_index(self, query: IndexQuery) -> IndexPage:
        self._open_client()
        zset = self._index_set(query)
        top: Any = "+inf" if query.after is None else query.after[0]
        after = None if query.after is None else (query.after[0], _encode(query.after[1]))
        chunk = max(2 * (query.limit + 1), 64)
        found: list[IndexEntry] = []
        offset = 0
        while len(found) <= query.limit:
            args = ("ZREVRANGEBYSCORE", zset, top, "-inf", "WITHSCORES", "LIMIT", offset, chunk)

            async def scan(client: RedisWire, attempt: int, args: Any = args) -> Any:
                return await client.execute(*args)

            flat = await self._call("list_index", scan)  # member, score, member, score, ...
            if not flat:
                break
            batch = list(zip(flat[::2], flat[1::2], strict=True))
            offset += len(batch)
            members = [m for m, score in batch if after is None or (int(float(score)), m) < after]
            if members:
                rows = await self._mget(
                    "list_index", [self._prefix + b"idx:e:" + m for m in members]
                )
                now_ms = self._now_ms()
                for name_id, raw in zip(members, rows, strict=True):
                    entry = _index_entry(name_id, raw, now_ms)
                    if entry is not None and query.matches(entry):
                        found.append(entry)
                        if len(found) > query.limit:
                            break
            if len(batch) < chunk:
                break
        return query.page(found)

    async def purge_expired(self) -> int:
        self._open_client()

        async def purge_index(client: RedisWire, attempt: int) -> Any:
            args = [self._prefix, self._now_ms(), _PURGE_CHUNK]
            return await self._script(client, INDEX_PURGE_SCRIPT, INDEX_PURGE_SHA, [], args)

        while int(await self._call("purge_expired", purge_index)) >= _PURGE_CHUNK:
            pass
        purged = 0
        while True:
            result = await self._call("purge_expired", self._purge_chunk)
            purged += int(result[0])
            if int(result[1]) < _PURGE_CHUNK:
                return purged

    async def _purge_chunk(self, client: RedisWire, attempt: int) -> Any:
        args = [self._now_ms(), self._ver_prefix, self._kv_prefix, _PURGE_CHUNK]
        return await self._script(client, PURGE_SCRIPT, PURGE_SHA, [self._index_key], args)

    # --- key-set ---------------------------------------------------------------------------

    async def add_to_set(self, key: str, member: str) -> None:
        self._open_client()
        redis_key = self._set_prefix + _encode(check_key(key))
        raw = _encode(check_member(member))

        async def add(client: RedisWire, attempt: int) -> None:
            await client.execute("SADD", redis_key, raw)

        await self._call("add_to_set", add)

    async def remove_from_set(self, key: str, member: str) -> None:
        self._open_client()
        redis_key = self._set_prefix + _encode(check_key(key))
        raw = _encode(check_member(member))

        async def remove(client: RedisWire, attempt: int) -> None:
            await client.execute("SREM", redis_key, raw)

        await self._call("remove_from_set", remove)

    async def get_set(self, key: str) -> frozenset[str]:
        self._open_client()
        redis_key = self._set_prefix + _encode(check_key(key))

        async def members(client: RedisWire, attempt: int) -> list[bytes]:
            return cast("list[bytes]", await client.execute("SMEMBERS", redis_key))

        raw = await self._call("get_set", members)
        return frozenset(m.decode("utf-8", "surrogatepass") for m in raw)


def _index_entry(name_id: bytes, raw: bytes | None, now_ms: int) -> IndexEntry | None:
    if raw is None:
        return None
    row = orjson.loads(raw)
    if row["x"] and row["x"] <= now_ms:
        return None
    name, _, workflow_id = name_id.decode("utf-8", "surrogatepass").partition("\x00")
    return IndexEntry(
        name, workflow_id, row["s"], frozenset(row["t"]), row["u"] / 1_000_000, row["a"]
    )


def _parse_url(url: str) -> tuple[str, int, str | None, str | None, int, bool]:
    """(host, port, username, password, database, ssl) of a ``redis://`` or ``rediss://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError("url must start with redis:// or rediss://")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ConfigError("url has an invalid port") from None
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ConfigError("url path must be a database number, like redis://host:6379/0")
    return (
        parts.hostname or "localhost",
        port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password is not None else None,
        int(path) if path else 0,
        parts.scheme == "rediss",
    )
