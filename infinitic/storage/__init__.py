"""Storage: a versioned key-value store (compare-and-set) and a key-set store.

`Storage` is the contract (see `infinitic.storage.base`); `create_storage` builds one from the
``storage`` configuration entry. Concrete backends live in their own modules
(`infinitic.storage.memory`, `.sqlite`, `.redis`, `.mysql`) and are imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Storage, version_conflict
from .factory import create_storage

if TYPE_CHECKING:
    from .memory import MemoryStorage
    from .sqlite import SqliteStorage

__all__ = ["MemoryStorage", "SqliteStorage", "Storage", "create_storage", "version_conflict"]


def __getattr__(name: str) -> Any:
    if name == "MemoryStorage":
        from .memory import MemoryStorage

        return MemoryStorage
    if name == "SqliteStorage":
        from .sqlite import SqliteStorage

        return SqliteStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
