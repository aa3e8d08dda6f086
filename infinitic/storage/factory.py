"""Build a `Storage` from the ``storage`` entry of a worker's configuration.

Accepted shapes (the same as Infinitic's YAML where they exist)::

    storage: inMemory                  # or {"inMemory": {}} / {"inMemory": None}
    storage: {sqlite: {path: infinitic.db, synchronous: FULL, busy_timeout: 5}}
    storage: {redis: {...}} / {mysql: {...}}   # extras infinitic[redis] / infinitic[mysql]

Concrete backends are imported only when chosen. A backend module loaded by name
(``infinitic.storage.redis``, ``infinitic.storage.mysql``) defines
``from_config(options: Mapping[str, Any], *, clock: Clock | None) -> Storage``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ..common.options import OptionNames
from ..errors import ConfigError
from .base import Clock, Storage

__all__ = ["BACKENDS", "create_storage"]

BACKENDS = ("inMemory", "sqlite", "redis", "mysql")

# the sqlite constructor's arguments, and camelCase aliases for YAML written Infinitic's way
_SQLITE_OPTIONS = OptionNames.plain(
    ("path", "synchronous", "busy_timeout", "read_threads", "create_tables", "max_batch"),
    aliases={
        "busyTimeout": "busy_timeout",
        "readThreads": "read_threads",
        "createTables": "create_tables",
        "maxBatch": "max_batch",
    },
)


def create_storage(
    config: Mapping[str, Any] | str, *, clock: Clock | None = None, key: str = "storage"
) -> Storage:
    """The (not yet started) storage described by `config`; `key` names it in errors.

    Every backend also takes `compression: zlib | zstd` (see compressed.py)."""
    name, options = _split(config, key)
    compression = options.pop("compression", None)
    from .compressed import wrap

    return wrap(_create(name, options, clock, key), compression, f"{key}.{name}")


def _create(name: str, options: dict[str, Any], clock: Clock | None, key: str) -> Storage:
    if name == "inMemory":
        if options:
            raise ConfigError(f"{key}.inMemory takes no options, got {sorted(options)}")
        from .memory import MemoryStorage

        return MemoryStorage(clock=clock)
    if name == "sqlite":
        return _sqlite(options, clock, f"{key}.sqlite")
    # redis, mysql: optional modules, imported only when configured
    try:
        module = importlib.import_module(f"infinitic.storage.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"infinitic.storage.{name}":
            raise ConfigError(
                f"{key}.{name}: this backend needs a package that is not installed ({exc.name}); "
                f"install it with `pip install infinitic[{name}]`"
            ) from exc
        raise ConfigError(
            f"{key}: storage backend {name!r} is not available in this release "
            "(use 'inMemory' or 'sqlite')"
        ) from None
    storage: Storage = module.from_config(options, clock=clock)
    return storage


def _split(config: Mapping[str, Any] | str, key: str) -> tuple[str, dict[str, Any]]:
    options: dict[str, Any]
    if isinstance(config, str):
        name, options = config, {}
    elif isinstance(config, Mapping):
        if len(config) != 1:
            raise ConfigError(
                f"{key} must name exactly one backend among {', '.join(BACKENDS)}, "
                f"got {sorted(map(str, config)) or 'nothing'}"
            )
        ((name, raw),) = config.items()
        if raw is None:
            options = {}
        elif isinstance(raw, Mapping):
            options = dict(raw)
        else:
            raise ConfigError(f"{key}.{name} must be a mapping of options, not {raw!r}")
    else:
        raise ConfigError(f"{key} must be a backend name or a mapping, not {type(config).__name__}")
    if name not in BACKENDS:
        raise ConfigError(
            f"{key}: unknown storage backend {name!r}; expected one of {', '.join(BACKENDS)}"
        )
    return name, options


def _sqlite(options: Mapping[str, Any], clock: Clock | None, key: str) -> Storage:
    kwargs = _SQLITE_OPTIONS.arguments(options, key)
    if "path" not in kwargs:
        raise ConfigError(f"{key}.path is required (the database file)")
    if not isinstance(kwargs["path"], str):
        raise ConfigError(f"{key}.path must be a string, not {kwargs['path']!r}")
    from .sqlite import SqliteStorage

    try:
        return SqliteStorage(clock=clock, **kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None
