"""The workflow index part of the storage contract (storage/index.py), on every backend."""

from __future__ import annotations

import pytest

from infinitic.errors import VersionConflictError
from infinitic.storage.base import IndexEntry, IndexQuery, Storage

T0 = 1_700_000_000.0


def entry(workflow_id: str, status: str = "running", **kw: object) -> IndexEntry:
    fields: dict[str, object] = {"name": "Flow", "tags": frozenset(), "started_at": T0}
    fields.update(kw)
    return IndexEntry(
        str(fields["name"]),
        workflow_id,
        status,
        frozenset(fields["tags"]),  # type: ignore[call-overload]
        float(fields["started_at"]),  # type: ignore[arg-type]
        T0 + 1,
    )


async def listed(storage: Storage, **filters: object) -> list[str]:
    page = await storage.list_index(IndexQuery.of(**filters))  # type: ignore[arg-type]
    return [e.id for e in page.entries]


class IndexContract:
    """Mixed into StorageContract: `self.run(body)` runs `body(storage, clock)`."""

    def run(self, body):  # type: ignore[no-untyped-def]  # StorageContract's
        raise NotImplementedError

    def test_index_is_written_with_the_state_and_filtered(self) -> None:
        async def body(storage: Storage, clock: object) -> None:
            await storage.put("s:a", b"A", 0, index=entry("a", tags={"t1"}, started_at=T0 + 1))
            writes = [("s:b", b"B", 0), ("s:b#1", b"seg", 0)]
            await storage.put_many(
                writes, index=entry("b", "failed", tags={"t1", "t2"}, started_at=T0 + 2)
            )
            await storage.put("s:c", b"C", 0, index=entry("c", name="Other", started_at=T0 + 3))
            await storage.put("s:d", b"D", 0)  # no entry: not listed
            assert await listed(storage) == ["c", "b", "a"]
            assert await listed(storage, name="Flow") == ["b", "a"]
            assert await listed(storage, status="failed") == ["b"]
            assert await listed(storage, name="Flow", status="running") == ["a"]
            assert await listed(storage, tag="t1") == ["b", "a"]
            assert await listed(storage, tag="t1", status="running") == ["a"]
            assert await listed(storage, tag="t2", name="Other") == []
            (b,) = (await storage.list_index(IndexQuery.of(tag="t2"))).entries
            assert b == entry("b", "failed", tags={"t1", "t2"}, started_at=T0 + 2)
            # a status change moves the entry; the older tags go
            await storage.put("s:a", b"A2", 1, index=entry("a", "completed", started_at=T0 + 1))
            assert await listed(storage, status="running") == ["c"]
            assert await listed(storage, status="completed") == ["a"]
            assert await listed(storage, tag="t1") == ["b"]

        self.run(body)

    def test_a_conflicting_write_leaves_the_index_alone(self) -> None:
        async def body(storage: Storage, clock: object) -> None:
            await storage.put("s:a", b"A", 0, index=entry("a"))
            with pytest.raises(VersionConflictError):
                await storage.put("s:a", b"A", 0, index=entry("a", "failed"))
            with pytest.raises(VersionConflictError):
                await storage.put_many([("s:a", b"A", 7)], index=entry("a", "failed"))
            assert await listed(storage, status="running") == ["a"]
            assert await listed(storage, status="failed") == []

        self.run(body)

    def test_a_new_start_of_an_id_replaces_its_entry(self) -> None:
        async def body(storage: Storage, clock: object) -> None:
            await storage.put("s:a", b"A", 0, index=entry("a", "completed", tags={"t"}))
            # the same id started again (a new instance: started and updated at once)
            again = IndexEntry("Flow", "a", "running", frozenset({"u"}), T0 + 5, T0 + 5)
            await storage.put("s:a", b"A2", 1, index=again)
            assert await listed(storage, tag="t") == []
            assert await listed(storage, status="completed") == []
            assert (await storage.list_index(IndexQuery.of(tag="u"))).entries == [again]
            # and a status change of an entry the index never had writes it whole
            late = IndexEntry("Flow", "b", "completed", frozenset({"u"}), T0 + 6, T0 + 7)
            await storage.put("s:b", b"B", 0, index=late)
            assert await listed(storage, tag="u") == ["b", "a"]
            assert await listed(storage, status="completed") == ["b"]

        self.run(body)

    def test_pages_neither_skip_nor_repeat_ties(self) -> None:
        async def body(storage: Storage, clock: object) -> None:
            for i in range(7):  # three share one start time: the id orders them
                started = T0 + (1 if i < 3 else i)
                await storage.put(f"s:{i}", b"x", 0, index=entry(f"w{i}", started_at=started))
            seen: list[str] = []
            cursor = None
            while True:
                page = await storage.list_index(IndexQuery.of(limit=2, cursor=cursor))
                assert len(page.entries) <= 2
                seen += [e.id for e in page.entries]
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert seen == ["w6", "w5", "w4", "w3", "w2", "w1", "w0"]

        self.run(body)

    def test_ended_entries_leave_with_their_retention(self) -> None:
        async def body(storage: Storage, clock: object) -> None:
            await storage.put("s:a", b"A", 0, index=entry("a", "running", tags={"t"}))
            await storage.put(
                "s:a", b"A", 1, ttl_seconds=60, index=entry("a", "completed", tags={"t"})
            )
            await storage.put("s:b", b"B", 0, index=entry("b", "failed", tags={"t"}))
            assert await listed(storage, tag="t") == ["b", "a"]
            clock.advance(61)  # type: ignore[attr-defined]
            assert await listed(storage, tag="t") == ["b"]
            assert await listed(storage, status="completed") == []
            await storage.purge_expired()
            assert await listed(storage) == ["b"]
            # the id may start again later: a fresh entry
            await storage.put("s:a", b"A", 0, index=entry("a", "running"))
            assert await listed(storage, status="running") == ["a"]

        self.run(body)
