"""The storage contract (tests/storage/contract.py) on every backend built so far."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infinitic.errors import ConfigError
from infinitic.storage import create_storage
from infinitic.storage.base import Clock, Storage
from infinitic.storage.memory import MemoryStorage
from infinitic.storage.sqlite import SqliteStorage

from .contract import StorageContract


class TestMemoryStorage(StorageContract):
    async def make_storage(self, clock: Clock) -> Storage:
        return MemoryStorage(clock=clock)


class TestSqliteStorage(StorageContract):
    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.path = tmp_path / "storage.db"

    async def make_storage(self, clock: Clock) -> Storage:
        return SqliteStorage(self.path, clock=clock)


class TestSqliteStorageInlineReads(StorageContract):
    """Reads on the calling thread (read_threads=0), synchronous=FULL."""

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.path = tmp_path / "storage.db"

    async def make_storage(self, clock: Clock) -> Storage:
        return SqliteStorage(self.path, clock=clock, read_threads=0, synchronous="FULL")


class TestSqliteStorageFromConfig(StorageContract):
    """Built by the factory, with YAML-style keys."""

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.path = tmp_path / "storage.db"

    async def make_storage(self, clock: Clock) -> Storage:
        config = {"sqlite": {"path": str(self.path), "synchronous": "FULL", "busyTimeout": 2}}
        return create_storage(config, clock=clock)


# --- the factory --------------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["inMemory", {"inMemory": {}}, {"inMemory": None}])
def test_factory_in_memory(config: Any) -> None:
    assert isinstance(create_storage(config), MemoryStorage)


def test_factory_sqlite(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    storage = create_storage(
        {"sqlite": {"path": path, "synchronous": "full", "busy_timeout": 1.5, "read_threads": 0}}
    )
    assert isinstance(storage, SqliteStorage)
    assert (storage.path, storage.synchronous, storage.busy_timeout) == (path, "FULL", 1.5)
    assert storage.read_threads == 0


@pytest.mark.parametrize(
    ("config", "backend"),
    [({"redis": {"host": "127.0.0.1"}}, "redis"), ({"mysql": {"database": "x"}}, "mysql")],
)
def test_factory_builds_the_server_backends_lazily(config: dict[str, Any], backend: str) -> None:
    storage = create_storage(config)  # built, not started: no server needed yet
    assert storage.backend == backend


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("postgres", "storage: unknown storage backend 'postgres'; expected one of inMemory, "),
        ({"cassandra": {}}, "storage: unknown storage backend 'cassandra'"),
        ({}, "storage must name exactly one backend"),
        ({"inMemory": {}, "sqlite": {}}, "storage must name exactly one backend"),
        (42, "storage must be a backend name or a mapping, not int"),
        ({"sqlite": "x.db"}, "storage.sqlite must be a mapping of options"),
        ({"sqlite": {}}, "storage.sqlite.path is required"),
        ({"sqlite": {"path": 3}}, "storage.sqlite.path must be a string"),
        ({"sqlite": {"path": "x.db", "color": 1}}, "storage.sqlite.color: unknown option"),
        ({"sqlite": {"path": "x.db", "synchronous": "NO"}}, "storage.sqlite: sqlite storage: "),
        ({"sqlite": {"path": ":memory:"}}, "use the 'inMemory' storage"),
        ({"inMemory": {"size": 1}}, "storage.inMemory takes no options"),
    ],
)
def test_factory_errors_name_the_key(config: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_storage(config)
    assert str(info.value).startswith(message) or message in str(info.value)


class TestCompressedSqliteContract(StorageContract):
    """The whole contract through the compression wrapper (values above its threshold and below)."""

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.path = str(tmp_path / "compressed.db")

    async def make_storage(self, clock: Clock) -> Storage:
        return create_storage({"sqlite": {"path": self.path, "compression": "zlib"}}, clock=clock)


def test_compressed_values_are_smaller_and_old_values_stay_readable(tmp_path: Any) -> None:
    import asyncio

    async def scenario() -> tuple[int, bytes, bytes]:
        path = str(tmp_path / "z.db")
        plain = create_storage({"sqlite": {"path": path}})
        await plain.start()
        await plain.put("old", b"IN\x01" + b"a" * 1000, 0)
        await plain.close()
        packed = create_storage({"sqlite": {"path": path, "compression": "zlib"}})
        await packed.start()
        await packed.put("new", b"IN\x01" + b"b" * 1000, 0)
        old = await packed.get("old")
        new = await packed.get("new")
        await packed.close()
        raw = create_storage({"sqlite": {"path": path}})
        await raw.start()
        stored = await raw.get("new")
        await raw.close()
        assert old and new and stored
        return len(stored[0]), old[0], new[0]

    size, old, new = asyncio.run(scenario())
    assert size < 100  # 1,003 bytes of state, compressed
    assert old == b"IN\x01" + b"a" * 1000 and new == b"IN\x01" + b"b" * 1000
