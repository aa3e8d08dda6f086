"""The SQL of the MySQL storage: statements, how one is run, what a driver error means."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import MySQLdb

SCHEMA_VERSION = 2  # 2: the workflow index tables (_index.py)
IN_CHUNK = 500  # keys per SELECT ... IN (...)
PURGE_CHUNK = 5000  # rows per DELETE of purge_expired (each in its own transaction)

# errno of the MySQL/MariaDB errors that mean "the connection is gone (or the server is going)":
# 1040 too many connections, 1053/1077 server shutdown, 1152 aborted connection, 1317 query
# interrupted (killed at shutdown), 1927 connection killed, 2002/2003 cannot connect, 2006 server
# gone away, 2013/2055 lost connection during a query, 2026 SSL error, 4031 idle disconnection
_CONNECTION_ERRORS = frozenset({1040, 1053, 1077, 1152, 1317, 1927, 2002, 2003, 2006, 2013})
_CONNECTION_ERRORS |= {2026, 2055, 4031}
_TRANSIENT_ERRORS = frozenset({1205, 1213})  # lock wait timeout, deadlock: rerun the batch
_ACCESS_DENIED = 1045
_DB_ACCESS_DENIED = 1044
_UNKNOWN_DATABASE = 1049


def _hash(text: str) -> tuple[bytes, bytes]:
    raw = text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).digest(), raw


def _is_lost(exc: BaseException) -> bool:
    return _errno(exc) in _CONNECTION_ERRORS or isinstance(exc, MySQLdb.InterfaceError)


def _errno(exc: BaseException) -> int:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else 0


class _Sql:
    """The statements, as bytes templates with %s placeholders (filled by `_query`)."""

    def __init__(self, kv: str, ks: str) -> None:
        self.kv, self.ks = kv, ks
        t, s = f"`{kv}`", f"`{ks}`"
        live = "(expires_at IS NULL OR expires_at > %s)"
        dead = "expires_at IS NOT NULL AND expires_at <= %s"
        self.version = f"SELECT version FROM {t} WHERE key_hash = %s AND {live}".encode()
        self.insert = (
            f"INSERT INTO {t} (key_hash, `key`, value, version, expires_at, write_id) "
            "VALUES (%s, %s, %s, 1, %s, %s) ON DUPLICATE KEY UPDATE "
            # each assignment tests the OLD expires_at: it is assigned last
            f"value = IF({dead}, VALUES(value), value), "
            f"version = IF({dead}, 1, version), "
            f"write_id = IF({dead}, VALUES(write_id), write_id), "
            f"expires_at = IF({dead}, VALUES(expires_at), expires_at)"
        ).encode()
        self.update = (
            f"UPDATE {t} SET value = %s, version = %s, expires_at = %s, write_id = %s "
            f"WHERE key_hash = %s AND version = %s AND {live}"
        ).encode()
        self.delete = f"DELETE FROM {t} WHERE key_hash = %s AND version = %s AND {live}".encode()
        self.delete_any = f"DELETE FROM {t} WHERE key_hash = %s".encode()
        self.purge = f"DELETE FROM {t} WHERE {dead} LIMIT {PURGE_CHUNK}".encode()
        self.set_add = (
            f"INSERT INTO {s} (key_hash, member_hash, `key`, member) VALUES (%s, %s, %s, %s) "
            "ON DUPLICATE KEY UPDATE key_hash = key_hash"
        ).encode()
        self.set_remove = f"DELETE FROM {s} WHERE key_hash = %s AND member_hash = %s".encode()
        self.set_get = f"SELECT member FROM {s} WHERE key_hash = %s".encode()
        self._live = live

    def get(self, n: int) -> bytes:
        marks = ", ".join(["%s"] * n)
        return (
            f"SELECT key_hash, value, version, expires_at FROM `{self.kv}` "
            f"WHERE key_hash IN ({marks})"
        ).encode()

    def check(self, n: int) -> bytes:
        marks = ", ".join(["%s"] * n)
        return (
            f"SELECT key_hash, version, write_id FROM `{self.kv}` "
            f"WHERE {self._live} AND key_hash IN ({marks})"
        ).encode()

    def schema(self, schema_table: str) -> list[bytes]:
        return [
            s.encode()
            for s in (
                f"CREATE TABLE IF NOT EXISTS `{schema_table}` ("
                " component VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,"
                " version INT NOT NULL,"
                " updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
                " ON UPDATE CURRENT_TIMESTAMP(3)"
                ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                f"CREATE TABLE IF NOT EXISTS `{self.kv}` ("
                " key_hash BINARY(32) NOT NULL,"
                " `key` BLOB NOT NULL,"
                " value LONGBLOB NOT NULL,"
                " version BIGINT NOT NULL,"
                " expires_at DOUBLE NULL,"
                " write_id BINARY(8) NOT NULL,"
                " last_update TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
                " ON UPDATE CURRENT_TIMESTAMP(3),"
                " PRIMARY KEY (key_hash),"
                " KEY expires_at_idx (expires_at)"
                ") ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4",
                f"CREATE TABLE IF NOT EXISTS `{self.ks}` ("
                " key_hash BINARY(32) NOT NULL,"
                " member_hash BINARY(32) NOT NULL,"
                " `key` BLOB NOT NULL,"
                " member BLOB NOT NULL,"
                " PRIMARY KEY (key_hash, member_hash)"
                ") ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4",
            )
        ]


def _query(conn: Any, sql: bytes, *args: Any, limit: Callable[[int], None] | None = None) -> Any:
    """Run one statement: its rows (a tuple of tuples) for a SELECT, else the affected rows.

    `limit` checks the size of the statement, once its arguments are escaped, before it is sent.
    """
    statement = sql % tuple(conn.literal(a) for a in args) if args else sql
    if limit is not None:
        limit(len(statement))
    conn.query(statement)
    result = conn.store_result()
    if result is None:
        return conn.affected_rows()
    return result.fetch_row(0)


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8", "surrogatepass")


def _rollback_quietly(conn: Any) -> None:
    try:
        conn.rollback()
    except MySQLdb.Error:
        pass


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except MySQLdb.Error:
        pass
