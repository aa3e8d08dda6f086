"""The SQLite transport: many processes of one machine share one file as their message bus."""

from .settings import SqliteTransportSettings
from .transport import SqliteTransport

__all__ = ["SqliteTransport", "SqliteTransportSettings"]
