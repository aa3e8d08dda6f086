"""In-memory storage: plain dicts, no I/O. For tests and single-process demos.

Every operation runs to completion without awaiting, so it is atomic with respect to the other
coroutines of the loop. It is not meant to be shared between threads or event loops.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sortedcontainers import SortedList

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

__all__ = ["MemoryStorage"]

# an entry: (value, version, expires_at or None)
_Entry = tuple[bytes, int, "float | None"]


class MemoryStorage(Storage):
    """Dict-based `Storage`. Data survives `close()` and a later `start()` of the same object."""

    backend = "inMemory"

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or time.time
        self._kv: dict[str, _Entry] = {}
        self._sets: dict[str, set[str]] = {}
        self._index = MemoryIndex()
        self._state = "new"

    async def start(self) -> None:
        self._state = "started"

    async def close(self) -> None:
        if self._state == "started":
            self._state = "closed"

    def _check_open(self) -> None:
        if self._state != "started":
            raise not_started(self, self._state)

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._kv.get(key)
        if entry is not None and entry[2] is not None and entry[2] <= now:
            return None
        return entry

    # --- key-value -------------------------------------------------------------------------

    async def get(self, key: str) -> tuple[bytes, int] | None:
        self._check_open()
        entry = self._live(check_key(key), self._clock())
        return None if entry is None else (entry[0], entry[1])

    async def get_many(self, keys: Sequence[str]) -> dict[str, tuple[bytes, int]]:
        self._check_open()
        now = self._clock()
        found: dict[str, tuple[bytes, int]] = {}
        for key in keys:
            entry = self._live(check_key(key), now)
            if entry is not None:
                found[key] = (entry[0], entry[1])
        return found

    async def put_many(
        self,
        writes: Sequence[Write],
        *,
        ttl_seconds: float | None = None,
        index: IndexEntry | None = None,
    ) -> list[int]:
        self._check_open()
        ttl = check_ttl(ttl_seconds)
        checked = [(check_key(k), check_value(v), check_expected(e)) for k, v, e in writes]
        now = self._clock()
        expires_at = None if ttl is None else now + ttl
        # check every write against the state the earlier ones leave, then apply them all
        staged: dict[str, _Entry | None] = {}
        versions: list[int] = []
        for key, value, expected in checked:
            entry = staged[key] if key in staged else self._live(key, now)
            actual = 0 if entry is None else entry[1]
            if actual != expected:
                raise version_conflict(key, expected, actual)
            if value is None:
                staged[key] = None
                versions.append(0)
            else:
                staged[key] = (value, expected + 1, expires_at)
                versions.append(expected + 1)
        for key, new in staged.items():
            if new is None:
                self._kv.pop(key, None)
            else:
                self._kv[key] = new
        if index is not None:
            self._index.put(index, expires_at)
        return versions

    async def list_index(self, query: IndexQuery) -> IndexPage:
        self._check_open()
        return self._index.list(query, self._clock())

    async def purge_expired(self) -> int:
        self._check_open()
        now = self._clock()
        expired = [k for k, e in self._kv.items() if e[2] is not None and e[2] <= now]
        for key in expired:
            del self._kv[key]
        self._index.purge(now)
        return len(expired)

    # --- key-set ---------------------------------------------------------------------------

    async def add_to_set(self, key: str, member: str) -> None:
        self._check_open()
        self._sets.setdefault(check_key(key), set()).add(check_member(member))

    async def remove_from_set(self, key: str, member: str) -> None:
        self._check_open()
        members = self._sets.get(check_key(key))
        if members is not None:
            members.discard(check_member(member))
            if not members:
                del self._sets[key]

    async def get_set(self, key: str) -> frozenset[str]:
        self._check_open()
        return frozenset(self._sets.get(check_key(key), ()))


_SortKey = tuple[int, str]


class MemoryIndex:
    """The workflow index in sorted lists: all, by name, status, name and status, and tag."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[IndexEntry, float | None]] = {}
        self._lists: dict[tuple[str, ...], SortedList] = {}

    @staticmethod
    def _lists_of(entry: IndexEntry) -> list[tuple[str, ...]]:
        names: list[tuple[str, ...]] = [
            ("all",),
            ("n", entry.name),
            ("s", entry.status),
            ("ns", entry.name, entry.status),
        ]
        for tag in entry.tags:
            names.append(("t", tag))
        return names

    def put(self, entry: IndexEntry, expires_at: float | None) -> None:
        name_id = entry.member
        old = self._entries.get(name_id)
        key = (entry.started_us, name_id)
        if old is not None and old[0].started_at == entry.started_at and old[0].tags == entry.tags:
            # a status change (the usual update): only the status lists move
            self._entries[name_id] = (entry, expires_at)
            if old[0].status != entry.status:
                self._discard(("s", old[0].status), key)
                self._discard(("ns", entry.name, old[0].status), key)
                self._add(("s", entry.status), key)
                self._add(("ns", entry.name, entry.status), key)
            return
        self.remove(name_id)
        self._entries[name_id] = (entry, expires_at)
        for list_name in self._lists_of(entry):
            self._add(list_name, key)

    def _add(self, name: tuple[str, ...], key: _SortKey) -> None:
        entries = self._lists.get(name)
        if entries is None:
            entries = self._lists[name] = SortedList()
        entries.add(key)

    def _discard(self, name: tuple[str, ...], key: _SortKey) -> None:
        entries = self._lists[name]
        entries.discard(key)
        if not entries:
            del self._lists[name]

    def remove(self, name_id: str) -> None:
        old = self._entries.pop(name_id, None)
        if old is None:
            return
        key = (old[0].started_us, name_id)
        for name in self._lists_of(old[0]):
            self._discard(name, key)

    def list(self, query: IndexQuery, now: float) -> IndexPage:
        if query.tag is not None:
            name: tuple[str, ...] = ("t", query.tag)
        elif query.name is not None and query.status is not None:
            name = ("ns", query.name, query.status)
        elif query.name is not None:
            name = ("n", query.name)
        elif query.status is not None:
            name = ("s", query.status)
        else:
            name = ("all",)
        entries = self._lists.get(name)
        found: list[IndexEntry] = []
        if entries is None:
            return IndexPage()
        keys = entries.irange(maximum=query.after, inclusive=(True, False), reverse=True)
        for _, name_id in keys:
            entry, expires_at = self._entries[name_id]
            if (expires_at is None or expires_at > now) and query.matches(entry):
                found.append(entry)
                if len(found) > query.limit:
                    break
        return query.page(found)

    def purge(self, now: float) -> None:
        expired = [k for k, (_, at) in self._entries.items() if at is not None and at <= now]
        for name_id in expired:
            self.remove(name_id)
