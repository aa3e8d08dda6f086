"""The workflow index of the MySQL storage (storage/index.py): two tables beside key-value.

``<kv table>_idx`` holds one row per instance, keyed by its member (``name NUL id``), with
indexes that serve each filter newest first; ``<kv table>_idx_tag`` one row per tag. Both are
written by the same transaction as the state (mysql.py calls `put_index` inside it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..index import IndexEntry, IndexPage, IndexQuery, decode_tags, encode_tags

__all__ = ["IndexTables"]

Query = Callable[..., Any]  # mysql._query(conn, sql, *args)

_COLUMNS = "i.name, i.id, i.status, i.tags, i.started_us, i.updated_at"


class IndexTables:
    def __init__(self, kv_table: str) -> None:
        self.rows, self.tags = f"{kv_table}_idx", f"{kv_table}_idx_tag"
        r, t = f"`{self.rows}`", f"`{self.tags}`"
        self._old = f"SELECT tags, started_us FROM {r} WHERE member = %s".encode()
        self._put = (
            f"INSERT INTO {r} (member, name, id, status, tags, started_us, updated_at, "
            "expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE "
            "status = VALUES(status), tags = VALUES(tags), started_us = VALUES(started_us), "
            "updated_at = VALUES(updated_at), expires_at = VALUES(expires_at)"
        ).encode()
        self._status = (
            f"UPDATE {r} SET status = %s, updated_at = %s, expires_at = %s WHERE member = %s"
        ).encode()
        self._tag_add = (
            f"INSERT IGNORE INTO {t} (tag, started_us, member) VALUES (%s, %s, %s)"
        ).encode()
        self._tag_remove = (
            f"DELETE FROM {t} WHERE tag = %s AND started_us = %s AND member = %s"
        ).encode()
        dead = "expires_at IS NOT NULL AND expires_at <= %s"
        self._purge_tags = (
            f"DELETE t FROM {t} t JOIN {r} i ON i.member = t.member WHERE i.{dead}"
        ).encode()
        self._purge = f"DELETE FROM {r} WHERE {dead}".encode()

    def schema(self) -> list[bytes]:
        return [
            s.encode()
            for s in (
                f"CREATE TABLE IF NOT EXISTS `{self.rows}` ("
                " member VARBINARY(512) NOT NULL,"
                " name VARBINARY(255) NOT NULL,"
                " id VARBINARY(255) NOT NULL,"
                " status VARBINARY(16) NOT NULL,"
                " tags BLOB NOT NULL,"
                " started_us BIGINT NOT NULL,"
                " updated_at DOUBLE NOT NULL,"
                " expires_at DOUBLE NULL,"
                " PRIMARY KEY (member),"
                " KEY started_idx (started_us, member),"
                " KEY name_idx (name, started_us, member),"
                " KEY status_idx (status, started_us, member),"
                " KEY name_status_idx (name, status, started_us, member),"
                " KEY expires_at_idx (expires_at)"
                ") ENGINE=InnoDB ROW_FORMAT=DYNAMIC",
                f"CREATE TABLE IF NOT EXISTS `{self.tags}` ("
                " tag VARBINARY(255) NOT NULL,"
                " started_us BIGINT NOT NULL,"
                " member VARBINARY(512) NOT NULL,"
                " PRIMARY KEY (tag, started_us, member)"
                ") ENGINE=InnoDB ROW_FORMAT=DYNAMIC",
            )
        ]

    def put(self, query: Query, conn: Any, entry: IndexEntry, expires_at: float | None) -> None:
        name_id = entry.member.encode()
        started = entry.started_us
        old = query(conn, self._old, name_id)
        tags = encode_tags(entry.tags)
        if old and _text(old[0][0]) == tags and int(old[0][1]) == started:
            # a status change (the usual update): only the indexes of the status move
            query(conn, self._status, entry.status, entry.updated_at, expires_at, name_id)
            return
        row = (name_id, entry.name, entry.id, entry.status, tags, started, entry.updated_at)
        query(conn, self._put, *row, expires_at)
        if old:
            for tag in decode_tags(old[0][0]):
                query(conn, self._tag_remove, tag, int(old[0][1]), name_id)
        for tag in sorted(entry.tags):
            query(conn, self._tag_add, tag, started, name_id)

    def list(self, query: Query, conn: Any, wanted: IndexQuery, now: float) -> IndexPage:
        where = ["(i.expires_at IS NULL OR i.expires_at > %s)"]
        args: list[Any] = [now]
        if wanted.name is not None:
            where.append("i.name = %s")
            args.append(wanted.name)
        if wanted.status is not None:
            where.append("i.status = %s")
            args.append(wanted.status)
        o = "t" if wanted.tag is not None else "i"
        if wanted.after is not None:
            started, name_id = wanted.after[0], wanted.after[1].encode()
            where.append(f"({o}.started_us < %s OR ({o}.started_us = %s AND {o}.member < %s))")
            args += [started, started, name_id]
        if wanted.tag is not None:
            source = f"`{self.tags}` t JOIN `{self.rows}` i ON i.member = t.member"
            where.insert(0, "t.tag = %s")
            args.insert(0, wanted.tag)
        else:
            source = f"`{self.rows}` i"
        sql = (
            f"SELECT {_COLUMNS} FROM {source} WHERE {' AND '.join(where)} "
            f"ORDER BY {o}.started_us DESC, {o}.member DESC LIMIT {wanted.limit + 1}"
        ).encode()
        entries = [
            IndexEntry(
                _text(name),
                _text(workflow_id),
                _text(status),
                decode_tags(tags),
                int(started_us) / 1_000_000,
                float(updated_at),
            )
            for name, workflow_id, status, tags, started_us, updated_at in query(conn, sql, *args)
        ]
        return wanted.page(entries)

    def purge(self, query: Query, conn: Any, now: float) -> None:
        query(conn, self._purge_tags, now)
        query(conn, self._purge, now)


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8", "surrogatepass")
