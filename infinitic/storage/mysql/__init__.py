"""MySQL / MariaDB storage with mysqlclient (``MySQLdb``), no ORM.

The driver is blocking, so a bounded pool of ``pool_size`` threads, each owning one connection,
serves a shared queue: async callers enqueue an operation and await a future. A thread takes
everything queued (up to ``max_batch``), runs the key lookups of the batch as one
``SELECT ... WHERE key_hash IN (...)`` and the writes in ONE transaction (each compare-and-set
checked on its own: a conflicting `put` fails alone, a conflicting `put_many` is rolled back to a
savepoint), commits once and resolves the futures on their loops. When the connection is lost,
the batch is retried with backoff on a new connection until ``retry_timeout_seconds`` have
passed; a write whose COMMIT may or may not have reached the server is checked by the random
``write_id`` it stored, so it is neither lost nor applied twice. See docs/storage.md.
"""

from __future__ import annotations

from ._pool import MySQLStats
from ._sql import SCHEMA_VERSION
from ._storage import MySQLStorage, from_config

__all__ = ["SCHEMA_VERSION", "MySQLStats", "MySQLStorage", "from_config"]
