"""The workflow index: one small entry per instance, kept beside its state, for listings.

The engine hands an `IndexEntry` to `Storage.put` / `put_many` with the state it saves when the
entry changes (an instance starts, or its status changes); the backend writes it in the SAME
atomic write as the state, with the state's expiry, so the index never tells of a state that
was not saved, and an ended instance leaves the index with its retention.
`Storage.list_index` reads it newest first, filtered by name, status and tag, one page at a
time, through indexes (SQL) or sorted sets (Redis): its cost is the page, not the instances.

Order: ``started_at`` (microseconds) descending, then the `member` (``name NUL id``) descending,
so pages never skip nor repeat an instance. A cursor is that pair, encoded; it is opaque to users.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import orjson

__all__ = [
    "STATUSES",
    "IndexEntry",
    "IndexPage",
    "IndexQuery",
    "decode_cursor",
    "decode_tags",
    "encode_cursor",
    "encode_tags",
    "member",
]

STATUSES = ("running", "completed", "failed", "canceled")
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One workflow instance as the listing knows it (times are seconds since the epoch)."""

    name: str
    id: str
    status: str
    tags: frozenset[str] = frozenset()
    started_at: float = 0.0
    updated_at: float = 0.0

    @property
    def started_us(self) -> int:
        return round(self.started_at * 1_000_000)

    @property
    def member(self) -> str:
        return member(self.name, self.id)


@dataclass(frozen=True, slots=True)
class IndexPage:
    entries: list[IndexEntry] = field(default_factory=list)
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class IndexQuery:
    """A checked listing request; `after` is the decoded cursor (started_us, member)."""

    name: str | None = None
    status: str | None = None
    tag: str | None = None
    limit: int = 50
    after: tuple[int, str] | None = None

    @classmethod
    def of(
        cls,
        name: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> IndexQuery:
        for label, value in (("name", name), ("tag", tag)):
            if value is not None and (not isinstance(value, str) or not value or "\x00" in value):
                raise ValueError(f"{label} must be a non-empty string, not {value!r}")
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be an int from 1 to {MAX_LIMIT}, not {limit!r}")
        after = decode_cursor(cursor) if cursor is not None else None
        return cls(name, status, tag, limit, after)

    def matches(self, entry: IndexEntry) -> bool:
        return (
            (self.name is None or entry.name == self.name)
            and (self.status is None or entry.status == self.status)
            and (self.tag is None or self.tag in entry.tags)
        )

    def page(self, entries: list[IndexEntry]) -> IndexPage:
        """The page of `entries` (the next ones in order, up to limit + 1 of them)."""
        if len(entries) <= self.limit:
            return IndexPage(entries, None)
        last = entries[self.limit - 1]
        return IndexPage(entries[: self.limit], encode_cursor(last.started_us, last.member))


def member(name: str, workflow_id: str) -> str:
    return f"{name}\x00{workflow_id}"


def encode_cursor(started_us: int, member: str) -> str:
    raw = orjson.dumps([started_us, member])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started_us, name_id = orjson.loads(raw)
        if type(started_us) is int and isinstance(name_id, str) and "\x00" in name_id:
            return started_us, name_id
    except (ValueError, TypeError, orjson.JSONDecodeError):
        pass
    raise ValueError(f"not a cursor of list_workflows: {cursor!r}")


def encode_tags(tags: frozenset[str]) -> str:
    return orjson.dumps(sorted(tags)).decode()


def decode_tags(raw: str | bytes | None) -> frozenset[str]:
    return frozenset(orjson.loads(raw)) if raw else frozenset()
