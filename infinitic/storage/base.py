"""The storage contract: a versioned key-value store and a key-set store, both async.

Values are opaque bytes: callers encode their state with their own versioned codec (never
pickle). Every write to the key-value store is a compare-and-set on a version number:

* version 0 means "absent"; a new key is written with ``expected_version=0`` and gets version 1;
* each successful write returns ``expected_version + 1``; writing ``None`` deletes and returns 0;
* a write whose expected version differs from the stored one raises `VersionConflictError`
  (with ``key``, ``expected`` and ``actual`` attributes) and changes nothing.

Values may carry a time to live (``ttl_seconds``): once it has passed, the entry reads as absent
(version 0) everywhere, and `Storage.purge_expired` deletes it for good. Expiry times are wall
clock seconds (``time.time`` unless a ``clock`` is injected), as they may outlive the process.

Backends are used from asyncio code; `start` and `close` are idempotent and every other
operation raises `StorageError` unless the storage is started.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence
from types import TracebackType

from ..errors import StorageError, VersionConflictError
from .index import IndexEntry, IndexPage, IndexQuery

__all__ = [
    "Clock",
    "IndexEntry",
    "IndexPage",
    "IndexQuery",
    "Storage",
    "Write",
    "check_expected",
    "check_key",
    "check_member",
    "check_ttl",
    "check_value",
    "not_started",
    "version_conflict",
]

Clock = Callable[[], float]
"""Returns the current wall-clock time in seconds since the epoch (like `time.time`)."""

Write = tuple[str, "bytes | None", int]
"""One write of `Storage.put_many`: (key, value or None to delete, expected version)."""


def version_conflict(key: str, expected: int, actual: int) -> VersionConflictError:
    """The error of a compare-and-set that found `actual` where it expected `expected`.

    The error carries ``key``, ``expected`` and ``actual`` attributes.
    """
    if expected == 0:
        wanted = "the key to be absent"
    else:
        wanted = f"version {expected}"
    found = "it is absent" if actual == 0 else f"it is at version {actual}"
    error = VersionConflictError(
        f"version conflict on key {key!r}: expected {wanted}, but {found} "
        f"(another writer changed it; reload and retry)"
    )
    # errors.py gives VersionConflictError no fields of its own: attach them here.
    setattr(error, "key", key)  # noqa: B010
    setattr(error, "expected", expected)  # noqa: B010
    setattr(error, "actual", actual)  # noqa: B010
    return error


def check_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"storage keys are str, not {type(key).__name__}")
    if "\x00" in key:
        raise ValueError(f"storage key {key!r} contains a NUL character")
    return key


def check_member(member: object) -> str:
    if not isinstance(member, str):
        raise TypeError(f"set members are str, not {type(member).__name__}")
    if "\x00" in member:
        raise ValueError(f"set member {member!r} contains a NUL character")
    return member


def check_value(value: object) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"storage values are bytes (or None to delete), not {type(value).__name__}")


def check_expected(expected_version: object) -> int:
    if type(expected_version) is not int or expected_version < 0:
        raise ValueError(f"expected_version must be an int >= 0, not {expected_version!r}")
    return expected_version


def check_ttl(ttl_seconds: float | None) -> float | None:
    if ttl_seconds is None:
        return None
    ttl = float(ttl_seconds)
    if not (ttl > 0 and math.isfinite(ttl)):
        raise ValueError(f"ttl_seconds must be a finite number > 0 (or None), not {ttl_seconds!r}")
    return ttl


class Storage(abc.ABC):
    """An async key-value store with versioned compare-and-set, plus a key-set store."""

    #: short backend name, as in the configuration ("inMemory", "sqlite", ...)
    backend: str = ""

    # --- lifecycle -------------------------------------------------------------------------

    @abc.abstractmethod
    async def start(self) -> None:
        """Open connections and create the tables when allowed. Idempotent."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish (flush) accepted writes, then release every resource. Idempotent."""

    async def __aenter__(self) -> Storage:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- key-value -------------------------------------------------------------------------

    @abc.abstractmethod
    async def get(self, key: str) -> tuple[bytes, int] | None:
        """(value, version) of a live key, or None when absent or expired."""

    @abc.abstractmethod
    async def get_many(self, keys: Sequence[str]) -> dict[str, tuple[bytes, int]]:
        """(value, version) of each live key among `keys`; absent and expired keys are left out."""

    async def put(
        self,
        key: str,
        value: bytes | None,
        expected_version: int,
        *,
        ttl_seconds: float | None = None,
        index: IndexEntry | None = None,
    ) -> int:
        """Compare-and-set: write `value` (None deletes) if stored version == `expected_version`.

        Returns the new version: ``expected_version + 1``, or 0 after a delete. Raises
        `VersionConflictError` and writes nothing when the versions differ. A value written
        with `ttl_seconds` reads as absent once that many seconds have passed; a write without
        it clears any earlier expiry. By default a `put_many` of one write; backends with a
        cheaper single write override it. `index`: as for `put_many`.
        """
        versions = await self.put_many(
            [(key, value, expected_version)], ttl_seconds=ttl_seconds, index=index
        )
        return versions[0]

    @abc.abstractmethod
    async def put_many(
        self,
        writes: Sequence[Write],
        *,
        ttl_seconds: float | None = None,
        index: IndexEntry | None = None,
    ) -> list[int]:
        """Apply several compare-and-set writes atomically: all of them or none.

        Writes apply in order (a key written twice must expect the version left by the first
        write). On the first conflict, `VersionConflictError` is raised and nothing is written.
        `ttl_seconds` applies to every value written. Returns the new versions, in order.
        `index`: the workflow index entry to write (replace) in the same atomic write, with the
        same expiry (see `infinitic.storage.index`).
        """

    @abc.abstractmethod
    async def list_index(self, query: IndexQuery) -> IndexPage:
        """A page of the workflow index: live entries matching `query`, newest first."""

    @abc.abstractmethod
    async def purge_expired(self) -> int:
        """Delete the expired entries (values and index entries) for good; returns how many
        values were deleted."""

    # --- key-set ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def add_to_set(self, key: str, member: str) -> None:
        """Add `member` to the set at `key` (no-op if already there)."""

    @abc.abstractmethod
    async def remove_from_set(self, key: str, member: str) -> None:
        """Remove `member` from the set at `key` (no-op if not there)."""

    @abc.abstractmethod
    async def get_set(self, key: str) -> frozenset[str]:
        """The members of the set at `key` (empty when there is none)."""


def not_started(storage: Storage, state: str) -> StorageError:
    if state in ("closing", "closed"):
        return StorageError(f"{storage.backend} storage is closed")
    return StorageError(f"{storage.backend} storage is not started: call `await storage.start()`")
