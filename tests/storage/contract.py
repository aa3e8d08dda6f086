"""The storage contract suite, reusable by every backend.

Subclass `StorageContract` in a ``test_*.py`` module, name the subclass ``Test...`` and define
``make_storage``: an async factory that returns a NEW, not yet started storage using the given
clock for expiry. Each test starts it, runs, and closes it::

    class TestRedisStorage(StorageContract):
        async def make_storage(self, clock: Clock) -> Storage:
            return RedisStorage(url, clock=clock)

Tests use plain pytest with ``asyncio.run`` (no asyncio plugin).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest

from infinitic.errors import StorageError, VersionConflictError
from infinitic.storage.base import Clock, Storage

from .index_contract import IndexContract


class FakeClock:
    """A controllable wall clock: `clock()` returns `now`, `advance(s)` moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Body = Callable[[Storage, FakeClock], Awaitable[None]]


def conflict_fields(error: object) -> tuple[str, int, int]:
    """(key, expected, actual) of a `VersionConflictError`."""
    assert isinstance(error, VersionConflictError), error
    return (error.key, error.expected, error.actual)  # type: ignore[attr-defined]


class StorageContract(IndexContract):
    """The behaviour every `Storage` backend must have (the workflow index: IndexContract)."""

    async def make_storage(self, clock: Clock) -> Storage:
        raise NotImplementedError

    def run(self, body: Body) -> None:
        async def main() -> None:
            clock = FakeClock()
            storage = await self.make_storage(clock)
            await storage.start()
            try:
                await body(storage, clock)
            finally:
                await storage.close()

        asyncio.run(main())

    # --- lifecycle -------------------------------------------------------------------------

    def test_start_and_close_are_idempotent(self) -> None:
        async def main() -> None:
            storage = await self.make_storage(FakeClock())
            with pytest.raises(StorageError, match="not started"):
                await storage.get("k")
            await storage.start()
            await storage.start()
            assert await storage.put("k", b"v", 0) == 1
            await storage.close()
            await storage.close()
            with pytest.raises(StorageError, match="closed"):
                await storage.get("k")
            with pytest.raises(StorageError, match="closed"):
                await storage.put("k", b"v", 1)
            async with storage:  # start again after close, then close on exit
                assert await storage.get("k") == (b"v", 1)

        asyncio.run(main())

    # --- key-value -------------------------------------------------------------------------

    def test_get_of_absent_key(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            assert await s.get("absent") is None
            assert await s.get_many(["absent", "other"]) == {}
            assert await s.get_many([]) == {}

        self.run(body)

    def test_put_new_key(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            assert await s.put("k", b"hello", 0) == 1
            assert await s.get("k") == (b"hello", 1)

        self.run(body)

    def test_compare_and_set_success(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            assert await s.put("k", b"v1", 0) == 1
            assert await s.put("k", b"v2", 1) == 2
            assert await s.put("k", b"v3", 2) == 3
            assert await s.get("k") == (b"v3", 3)

        self.run(body)

    def test_compare_and_set_conflict(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            await s.put("k", b"v1", 0)
            await s.put("k", b"v2", 1)
            with pytest.raises(VersionConflictError) as info:
                await s.put("k", b"late", 1)
            assert str(info.value) == (
                "version conflict on key 'k': expected version 1, but it is at version 2 "
                "(another writer changed it; reload and retry)"
            )
            assert conflict_fields(info.value) == ("k", 1, 2)
            with pytest.raises(VersionConflictError) as info:
                await s.put("k", b"again", 0)
            assert str(info.value) == (
                "version conflict on key 'k': expected the key to be absent, but it is at "
                "version 2 (another writer changed it; reload and retry)"
            )
            assert conflict_fields(info.value) == ("k", 0, 2)
            with pytest.raises(VersionConflictError) as info:
                await s.put("nothing", b"x", 3)
            assert str(info.value) == (
                "version conflict on key 'nothing': expected version 3, but it is absent "
                "(another writer changed it; reload and retry)"
            )
            assert conflict_fields(info.value) == ("nothing", 3, 0)
            assert isinstance(info.value, StorageError)
            # nothing was written by the failed attempts
            assert await s.get("k") == (b"v2", 2)
            assert await s.get("nothing") is None

        self.run(body)

    def test_delete(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            await s.put("k", b"v1", 0)
            await s.put("k", b"v2", 1)
            with pytest.raises(VersionConflictError) as info:
                await s.put("k", None, 1)
            assert conflict_fields(info.value) == ("k", 1, 2)
            assert await s.get("k") == (b"v2", 2)
            assert await s.put("k", None, 2) == 0
            assert await s.get("k") is None
            assert await s.get_many(["k"]) == {}
            # deleting an absent key expecting it absent is a no-op
            assert await s.put("k", None, 0) == 0
            with pytest.raises(VersionConflictError):
                await s.put("k", None, 2)
            # a deleted key starts again at version 1
            assert await s.put("k", b"new", 0) == 1
            assert await s.get("k") == (b"new", 1)

        self.run(body)

    def test_invalid_arguments(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            with pytest.raises(ValueError, match="expected_version"):
                await s.put("k", b"v", -1)
            with pytest.raises(TypeError, match="bytes"):
                await s.put("k", "text", 0)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="str"):
                await s.get(b"k")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="ttl_seconds"):
                await s.put("k", b"v", 0, ttl_seconds=0)
            assert await s.get("k") is None

        self.run(body)

    def test_bytes_like_values_are_stored_as_bytes(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            await s.put("a", bytearray(b"ab"), 0)  # type: ignore[arg-type]
            await s.put("m", memoryview(b"mv"), 0)  # type: ignore[arg-type]
            assert await s.get_many(["a", "m"]) == {"a": (b"ab", 1), "m": (b"mv", 1)}
            got = await s.get("a")
            assert got is not None and type(got[0]) is bytes

        self.run(body)

    def test_get_many(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            await s.put("a", b"A", 0)
            await s.put("b", b"B", 0)
            await s.put("b", b"BB", 1)
            keys = ["a", "b", "missing", "a"]
            assert await s.get_many(keys) == {"a": (b"A", 1), "b": (b"BB", 2)}
            many = [f"key-{i}" for i in range(1200)]  # beyond any bound-parameter limit
            await s.put_many([(k, k.encode(), 0) for k in many])
            found = await s.get_many(many + ["missing"])
            assert found == {k: (k.encode(), 1) for k in many}

        self.run(body)

    def test_put_many_applies_all(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            await s.put("old", b"o", 0)
            versions = await s.put_many([("x", b"1", 0), ("y", b"2", 0), ("old", b"o2", 1)])
            assert versions == [1, 1, 2]
            got = await s.get_many(["x", "y", "old"])
            assert got == {"x": (b"1", 1), "y": (b"2", 1), "old": (b"o2", 2)}
            # in order: a key written twice expects the version left by the first write
            assert await s.put_many([("x", b"a", 1), ("x", b"b", 2), ("y", None, 1)]) == [2, 3, 0]
            assert await s.get("x") == (b"b", 3)
            assert await s.get("y") is None
            assert await s.put_many([]) == []

        self.run(body)

    def test_put_many_is_atomic(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            await s.put("a", b"a1", 0)
            await s.put("b", b"b1", 0)
            await s.put("b", b"b2", 1)
            writes: list[tuple[str, bytes | None, int]] = [
                ("a", b"a2", 1),  # would succeed
                ("new", b"n", 0),  # would succeed
                ("b", b"b-late", 1),  # conflicts: b is at 2
                ("c", b"c", 0),
            ]
            with pytest.raises(VersionConflictError) as info:
                await s.put_many(writes)
            assert conflict_fields(info.value) == ("b", 1, 2)
            assert await s.get_many(["a", "b", "new", "c"]) == {"a": (b"a1", 1), "b": (b"b2", 2)}
            # a delete inside a failing group is rolled back too
            with pytest.raises(VersionConflictError):
                await s.put_many([("a", None, 1), ("x", b"x", 5)])
            assert await s.get("a") == (b"a1", 1)
            # the same key twice with the same expectation: the second conflicts, nothing kept
            with pytest.raises(VersionConflictError):
                await s.put_many([("a", b"p", 1), ("a", b"q", 1)])
            assert await s.get("a") == (b"a1", 1)

        self.run(body)

    # --- key-set ---------------------------------------------------------------------------

    def test_sets(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            assert await s.get_set("tag") == frozenset()
            await s.add_to_set("tag", "id-1")
            await s.add_to_set("tag", "id-2")
            await s.add_to_set("tag", "id-1")  # idempotent
            members = await s.get_set("tag")
            assert members == frozenset({"id-1", "id-2"})
            assert isinstance(members, frozenset)
            await s.remove_from_set("tag", "id-1")
            await s.remove_from_set("tag", "id-1")  # idempotent
            await s.remove_from_set("tag", "never")
            await s.remove_from_set("no-set", "x")
            assert await s.get_set("tag") == frozenset({"id-2"})
            await s.remove_from_set("tag", "id-2")
            assert await s.get_set("tag") == frozenset()

        self.run(body)

    def test_sets_and_values_are_separate(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            await s.add_to_set("same", "member")
            assert await s.get("same") is None
            await s.put("same", b"value", 0)
            assert await s.get_set("same") == frozenset({"member"})
            await s.add_to_set("other", "member")
            assert await s.get_set("same") == frozenset({"member"})
            await s.add_to_set("unicode:🏷️", "id:été")
            assert await s.get_set("unicode:🏷️") == frozenset({"id:été"})

        self.run(body)

    # --- expiry ----------------------------------------------------------------------------

    def test_ttl_expiry(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            assert await s.put("done", b"result", 0, ttl_seconds=10) == 1
            await s.put("kept", b"forever", 0)
            clock.advance(9.5)
            assert await s.get("done") == (b"result", 1)
            clock.advance(0.5)  # exactly at expiry: gone
            assert await s.get("done") is None
            assert await s.get_many(["done", "kept"]) == {"kept": (b"forever", 1)}
            # an expired key counts as absent for compare-and-set
            with pytest.raises(VersionConflictError) as info:
                await s.put("done", b"late", 1)
            assert conflict_fields(info.value) == ("done", 1, 0)
            assert await s.put("done", b"again", 0) == 1
            assert await s.get("done") == (b"again", 1)

        self.run(body)

    def test_ttl_is_reset_by_each_write(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            await s.put("k", b"v1", 0, ttl_seconds=5)
            clock.advance(4)
            await s.put("k", b"v2", 1, ttl_seconds=5)  # expires 5 s from now
            clock.advance(4)
            assert await s.get("k") == (b"v2", 2)
            await s.put("k", b"v3", 2)  # no ttl: never expires
            clock.advance(10_000)
            assert await s.get("k") == (b"v3", 3)
            await s.put_many([("a", b"a", 0), ("k", b"v4", 3)], ttl_seconds=1)
            clock.advance(1)
            assert await s.get_many(["a", "k"]) == {}

        self.run(body)

    def test_delete_of_expired_key(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            await s.put("k", b"v", 0, ttl_seconds=1)
            clock.advance(2)
            with pytest.raises(VersionConflictError):
                await s.put("k", None, 1)
            assert await s.put("k", None, 0) == 0
            assert await s.get("k") is None

        self.run(body)

    def test_purge_expired(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            for i in range(5):
                await s.put(f"short-{i}", b"x", 0, ttl_seconds=1)
            await s.put("long", b"x", 0, ttl_seconds=100)
            await s.put("forever", b"x", 0)
            assert await s.purge_expired() == 0
            clock.advance(1)
            assert await s.purge_expired() == 5
            assert await s.purge_expired() == 0
            assert await s.get_many(["long", "forever"]) == {
                "long": (b"x", 1),
                "forever": (b"x", 1),
            }
            clock.advance(100)
            assert await s.purge_expired() == 1
            assert await s.get("forever") == (b"x", 1)

        self.run(body)

    # --- concurrency -----------------------------------------------------------------------

    def test_contending_pairs_exactly_one_wins(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            await s.put("k", b"0", 0)
            version = 1
            for round_ in range(20):
                results = await asyncio.gather(
                    s.put("k", f"a{round_}".encode(), version),
                    s.put("k", f"b{round_}".encode(), version),
                    return_exceptions=True,
                )
                winners = [r for r in results if isinstance(r, int)]
                losers = [r for r in results if isinstance(r, VersionConflictError)]
                assert winners == [version + 1] and len(losers) == 1, results
                assert conflict_fields(losers[0]) == ("k", version, version + 1)
                version += 1
                got = await s.get("k")
                assert got is not None and got[1] == version

        self.run(body)

    def test_concurrent_increments_lose_no_update(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            conflicts = 0

            async def increment() -> None:
                nonlocal conflicts
                while True:
                    current = await s.get("counter")
                    value, version = (b"0", 0) if current is None else current
                    await asyncio.sleep(0)  # let the others read the same version
                    try:
                        await s.put("counter", str(int(value) + 1).encode(), version)
                        return
                    except VersionConflictError:
                        conflicts += 1

            await asyncio.gather(*(increment() for _ in range(50)))
            assert await s.get("counter") == (b"50", 50)
            assert conflicts > 0  # the writers really did contend

        self.run(body)

    # --- values and keys -------------------------------------------------------------------

    def test_large_values(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            big = os.urandom(3 * 1024 * 1024 + 7)
            await s.put("big", big, 0)
            assert await s.get("big") == (big, 1)
            bigger = big + os.urandom(1024 * 1024)
            await s.put_many([("big", bigger, 1), ("big2", big, 0)])
            assert await s.get_many(["big", "big2"]) == {"big": (bigger, 2), "big2": (big, 1)}

        self.run(body)

    def test_binary_values(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            values = {
                "nul": b"\x00",
                "nuls": b"a\x00b\x00\x00c\x00",
                "all": bytes(range(256)),
                "empty": b"",
                "not-utf8": b"\xff\xfe\x80",
            }
            for key, value in values.items():
                await s.put(key, value, 0)
            for key, value in values.items():
                assert await s.get(key) == (value, 1)
            assert await s.get_many(list(values)) == {k: (v, 1) for k, v in values.items()}

        self.run(body)

    def test_unicode_keys(self) -> None:
        async def body(s: Storage, clock: FakeClock) -> None:
            keys = [
                "workflow.state.日本語",
                "emoji-🚀-🧪",
                "accents:éàüß",
                "rtl:שלום",
                "",
                " spaced key ",
                "workflow:Name|tag:user:42|setIds",
                "x" * 1000,
            ]
            for i, key in enumerate(keys):
                await s.put(key, str(i).encode(), 0)
            for i, key in enumerate(keys):
                assert await s.get(key) == (str(i).encode(), 1)
            assert await s.get_many(keys) == {k: (str(i).encode(), 1) for i, k in enumerate(keys)}
            # distinct keys that only differ by normalization or case stay distinct
            await s.put("é", b"precomposed", 0)
            await s.put("e\u0301", b"combining", 0)
            await s.put("É", b"upper", 0)
            assert await s.get("é") == (b"precomposed", 1)
            assert await s.get("e\u0301") == (b"combining", 1)
            assert await s.get("É") == (b"upper", 1)
            with pytest.raises(ValueError, match="NUL"):
                await s.put("a\x00b", b"v", 0)

        self.run(body)
