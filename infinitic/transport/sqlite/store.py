"""The tables of the SQLite transport and what its database thread does in one round.

A message row is free (`owner` NULL), held by a process (`owner` its id, `lease_until` when
the claim lapses unless renewed), or delayed (`owner` '', `lease_until` its due time): a due
message and a lapsed claim are found the same way, by `lease_until < now`. One round is one
write transaction: new messages, acknowledgements (deletes), redeliveries, dead letters, lease
renewals and claims together (group commit), so a busy process commits a few times per
millisecond however many messages it moves.

Keyed topics give one key to one process at a time: a row is claimable only while no other
live process holds a row of the same key, and a process hands the rows of one key to one
handler, in id order (the order they were sent).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS infinitic_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        key TEXT,
        payload BLOB,
        attempts INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        lease_until REAL NOT NULL DEFAULT 0,
        sent_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS infinitic_messages_free ON infinitic_messages (topic, owner, id)",
    "CREATE INDEX IF NOT EXISTS infinitic_messages_due ON infinitic_messages (topic, lease_until)"
    " WHERE owner IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS infinitic_messages_key ON infinitic_messages (topic, key)"
    " WHERE key IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS infinitic_dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        payload BLOB,
        reason TEXT NOT NULL,
        failed_at REAL NOT NULL
    )""",
)

# RETURNING (3.35) claims in one statement; older libraries select then update, in the same
# write transaction, which is as safe and a little slower
HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)

_COLUMNS = "id, topic, key, payload, attempts, owner"
_NOT_HELD = (
    " AND (m.key IS NULL OR NOT EXISTS (SELECT 1 FROM infinitic_messages AS o"
    " WHERE o.topic = m.topic AND o.key = m.key AND o.owner IS NOT NULL"
    " AND o.owner NOT IN ('', :me) AND o.lease_until >= :now))"
)


@dataclass
class Claimed:
    id: int
    topic: str
    key: str | None
    payload: bytes
    attempts: int


@dataclass
class Round:
    """What the event loop asks of one transaction."""

    inserts: list[tuple[str, str | None, bytes, str | None, float, float]] = field(
        default_factory=list
    )  # topic, key, payload, owner ('' = delayed), lease_until, sent_at
    acks: list[int] = field(default_factory=list)
    retries: list[tuple[int, float]] = field(default_factory=list)  # id, due time
    dead: list[tuple[int | None, str, bytes, str]] = field(default_factory=list)
    claims: dict[str, tuple[bool, int]] = field(default_factory=dict)  # topic -> keyed, limit
    sweep: bool = False  # also lapsed claims and due delayed rows, and compute next_due
    new_since: int | None = None  # also claim the topics that got rows after this id
    renew: bool = False
    release: bool = False
    forget_topics: tuple[str, ...] = ()
    gc_before: float | None = None

    def writes(self) -> bool:
        return bool(
            self.inserts or self.acks or self.retries or self.dead or self.renew or self.release
        ) or bool(self.forget_topics or self.gc_before)


@dataclass
class Outcome:
    claimed: list[Claimed] = field(default_factory=list)
    next_due: float | None = None  # earliest due or lapse time seen (sweeps and new rows)
    last_id: int | None = None
    dead_lettered: list[tuple[str, str]] = field(default_factory=list)  # topic, reason
    more: set[str] = field(default_factory=set)  # topics that may have rows left to claim


def connect(path: str, synchronous: str, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        timeout=busy_timeout,
        isolation_level=None,  # BEGIN/COMMIT are ours
        check_same_thread=False,  # used by the transport's one database thread only
        cached_statements=128,
    )
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot enable WAL on {path} (journal mode {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        # a checkpoint syncs the file: every 40 MB of log rather than every 4 MB, so the
        # rounds (a few pages each, many per second) rarely pay for one
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        conn.execute("BEGIN IMMEDIATE")
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        raise
    return conn


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether `exc` says another connection holds the lock (SQLITE_BUSY, SQLITE_LOCKED)."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return (code & 0xFF) in (5, 6)
    return "locked" in str(exc) or "busy" in str(exc)


def begin(conn: sqlite3.Connection, patience: float, busy_timeout: float) -> None:
    """BEGIN IMMEDIATE; `patience` 0: SQLITE_BUSY at once when another connection writes,
    else SQLite's busy handler waits up to the connection's busy timeout."""
    if patience > 0:
        conn.execute("BEGIN IMMEDIATE")
        return
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("BEGIN IMMEDIATE")
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")


def data_version(conn: sqlite3.Connection) -> int:
    """Changes when another connection committed to the file (none of this one's commits)."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def last_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT MAX(id) FROM infinitic_messages").fetchone()
    return int(row[0] or 0)


def nothing_new(conn: sqlite3.Connection, since: int, topics: list[str]) -> int | None:
    """The highest id, when no row after `since` is free or delayed on one of `topics`
    (nothing there for the caller to claim or to wait for); None otherwise."""
    top = int(conn.execute("SELECT MAX(id) FROM infinitic_messages").fetchone()[0] or 0)
    if top <= since or not topics:
        return max(top, since)
    marks = ",".join("?" * len(topics))
    found = conn.execute(
        "SELECT 1 FROM infinitic_messages WHERE id > ? AND (owner IS NULL OR owner = '')"
        f" AND topic IN ({marks}) LIMIT 1",
        (since, *topics),
    ).fetchone()
    return None if found else top


def run_round(
    conn: sqlite3.Connection,
    me: str,
    lease: float,
    max_redeliveries: int,
    subscribed: dict[str, tuple[bool, int]],
    job: Round,
    patience: float,
    busy_timeout: float,
) -> Outcome:
    """`subscribed`: topic -> (keyed, how many more messages its handlers can take);
    `patience`: how long to wait for the write lock (0: raise SQLITE_BUSY at once)."""
    out = Outcome()
    now = time.time()
    new_topics: dict[str, float | None] = {}
    if job.new_since is not None:
        new_topics = _new_rows(conn, job.new_since, subscribed, out)
    claims = dict(job.claims)
    for topic in subscribed if job.sweep else new_topics:
        claims.setdefault(topic, subscribed[topic])
    out.more.update(t for t, c in claims.items() if c[1] <= 0)
    claims = {t: c for t, c in claims.items() if c[1] > 0}
    if not job.writes() and not claims and not job.sweep:
        return out
    begin(conn, patience, busy_timeout)
    try:
        _write(conn, me, now, lease, job, out)
        for topic, (keyed, limit) in claims.items():
            _claim(conn, me, now, lease, max_redeliveries, topic, keyed, limit, job.sweep, out)
        # when another process's claim lapses or a delayed row falls due: a sweep looks at
        # every topic, a keyed claim that fell short at its own (a key held elsewhere)
        for topic in subscribed:
            keyed, limit = claims.get(topic, (False, 0))
            if job.sweep or (keyed and _count(out, topic) < limit):
                _earliest(conn, me, topic, out)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    for due in new_topics.values():
        if due is not None and (out.next_due is None or due < out.next_due):
            out.next_due = due
    out.claimed.sort(key=lambda c: c.id)
    for topic, (_keyed, limit) in claims.items():
        if _count(out, topic) >= limit:
            out.more.add(topic)
    return out


def _count(out: Outcome, topic: str) -> int:
    return sum(1 for c in out.claimed if c.topic == topic)


def _new_rows(
    conn: sqlite3.Connection, since: int, subscribed: dict[str, tuple[bool, int]], out: Outcome
) -> dict[str, float | None]:
    """The subscribed topics that got rows after id `since`, with their earliest due time."""
    found: dict[str, float | None] = {}
    top = since
    for row_id, topic, owner, lease_until in conn.execute(
        "SELECT id, topic, owner, lease_until FROM infinitic_messages WHERE id > ?", (since,)
    ):
        top = max(top, row_id)
        if topic not in subscribed or (owner is not None and owner != ""):
            continue  # already claimed (often by this very process, in the round it was sent)
        due = lease_until if owner == "" else None
        known = found.get(topic)
        found[topic] = due if known is None else known if due is None else min(known, due)
    out.last_id = top
    return found


def _write(
    conn: sqlite3.Connection, me: str, now: float, lease: float, job: Round, out: Outcome
) -> None:
    if job.inserts:
        conn.executemany(
            "INSERT INTO infinitic_messages (topic, key, payload, owner, lease_until, sent_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            job.inserts,
        )
    if job.acks:
        conn.executemany(
            "DELETE FROM infinitic_messages WHERE id = ? AND owner = ?",
            [(i, me) for i in job.acks],
        )
    # a redelivery and a release move the row to a new id: the other processes notice new
    # ids without a sweep (see _new_rows)
    for moved, due in job.retries:
        _move(conn, "'', ?, attempts + 1", (due,), "id = ? AND owner = ?", (moved, me))
    for dead_id, topic, payload, reason in job.dead:
        _dead_letter(conn, dead_id, topic, payload, reason, now, out)
    if job.renew:
        conn.execute(
            "UPDATE infinitic_messages SET lease_until = ? WHERE owner = ?", (now + lease, me)
        )
    if job.release:  # a closing process hands what it holds to the others at once
        _move(conn, "NULL, 0, attempts", (), "owner = ?", (me,))
    for topic in job.forget_topics:
        conn.execute("DELETE FROM infinitic_messages WHERE topic = ?", (topic,))
    if job.gc_before is not None:
        # a response nobody claimed for that long has no client left to read it
        conn.execute(
            "DELETE FROM infinitic_messages WHERE topic >= 'response:' AND topic < 'response;'"
            " AND owner IS NULL AND sent_at < ?",
            (job.gc_before,),
        )


def _move(
    conn: sqlite3.Connection,
    values: str,
    value_args: tuple[object, ...],
    where: str,
    where_args: tuple[object, ...],
) -> None:
    conn.execute(
        "INSERT INTO infinitic_messages (topic, key, payload, owner, lease_until, attempts,"
        f" sent_at) SELECT topic, key, payload, {values}, sent_at FROM infinitic_messages"
        f" WHERE {where} ORDER BY id",
        (*value_args, *where_args),
    )
    conn.execute(f"DELETE FROM infinitic_messages WHERE {where} AND owner IS NOT NULL", where_args)


def _dead_letter(
    conn: sqlite3.Connection,
    row_id: int | None,
    topic: str,
    payload: object,
    reason: str,
    now: float,
    out: Outcome,
) -> None:
    conn.execute(
        "INSERT INTO infinitic_dead_letters (topic, payload, reason, failed_at)"
        " VALUES (?, ?, ?, ?)",
        (topic, payload, reason, now),
    )
    if row_id is not None:
        conn.execute("DELETE FROM infinitic_messages WHERE id = ?", (row_id,))
    out.dead_lettered.append((topic, reason))


def _claim(
    conn: sqlite3.Connection,
    me: str,
    now: float,
    lease: float,
    max_redeliveries: int,
    topic: str,
    keyed: bool,
    limit: int,
    sweep: bool,
    out: Outcome,
) -> None:
    params: dict[str, Any] = {
        "topic": topic,
        "me": me,
        "now": now,
        "until": now + lease,
        "limit": limit,
    }
    held = _NOT_HELD if keyed else ""
    wheres = ["m.owner IS NULL"]
    if sweep:  # lapsed claims of dead processes, and delayed rows now due
        wheres.insert(0, "m.owner IS NOT NULL AND m.lease_until < :now")
    for where in wheres:
        if params["limit"] <= 0:
            break
        select = (
            f"SELECT id FROM infinitic_messages AS m WHERE m.topic = :topic AND {where}{held}"
            " ORDER BY m.id LIMIT :limit"
        )
        # a claim taken over from another process counts as an attempt: a message that
        # kills every process that handles it ends in the dead letters, not in a loop
        update = (
            "UPDATE infinitic_messages SET owner = :me, lease_until = :until,"
            " attempts = attempts + (owner IS NOT NULL AND owner <> '')"
            f" WHERE id IN ({select})"
        )
        if HAS_RETURNING:
            rows = conn.execute(update + f" RETURNING {_COLUMNS}", params).fetchall()
        else:
            ids = [r[0] for r in conn.execute(select, params)]
            conn.execute(update, params)
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM infinitic_messages WHERE id IN ({marks})", ids
            ).fetchall()
        params["limit"] -= len(rows)
        for row_id, row_topic, key, payload, attempts, _owner in rows:
            if not isinstance(payload, bytes):
                what = type(payload).__name__ if payload is not None else "NULL"
                reason = f"malformed row {row_id}: payload is {what}, not a BLOB"
                _dead_letter(conn, row_id, row_topic, payload, reason, now, out)
            elif key is not None and not isinstance(key, str):
                reason = f"malformed row {row_id}: key is {type(key).__name__}, not TEXT"
                _dead_letter(conn, row_id, row_topic, payload, reason, now, out)
            elif attempts > max_redeliveries:
                reason = (
                    f"not handled after {attempts} attempts (failures, or processes that died "
                    "while handling it)"
                )
                _dead_letter(conn, row_id, row_topic, payload, reason, now, out)
            else:
                out.claimed.append(Claimed(row_id, row_topic, key, payload, attempts))


def _earliest(conn: sqlite3.Connection, me: str, topic: str, out: Outcome) -> None:
    row = conn.execute(
        "SELECT lease_until FROM infinitic_messages WHERE topic = ? AND owner IS NOT NULL"
        " AND owner <> ? ORDER BY lease_until LIMIT 1",
        (topic, me),
    ).fetchone()
    if row is not None and (out.next_due is None or row[0] < out.next_due):
        out.next_due = float(row[0])
