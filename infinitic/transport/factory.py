"""Builds the transport a config names; concrete transports are imported lazily."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .base import Transport

_shared_memory: dict[str, Any] = {}


def create_transport(kind: str, options: Mapping[str, Any]) -> Transport:
    """`inMemory` returns the process's bus for its `channel` (default "default"): workers and
    clients made from the same config in one process talk to each other."""
    if kind == "inMemory":
        from .memory import InMemoryTransport

        channel = str(options.get("channel", "default"))
        transport = _shared_memory.get(channel)
        if transport is None or transport.closed:
            transport = InMemoryTransport()
            _shared_memory[channel] = transport
        transport.users += 1
        return transport
    if kind == "pulsar":
        try:
            from .pulsar import PulsarSettings, PulsarTransport
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise ConfigError(
                f"transport: 'pulsar' needs the pulsar extra: pip install 'infinitic[pulsar]' ({exc})"
            ) from None
        return PulsarTransport(PulsarSettings.from_options(options))
    if kind == "sqlite":
        from .sqlite import SqliteTransport, SqliteTransportSettings

        return SqliteTransport(SqliteTransportSettings.from_options(options))
    raise ConfigError(
        f"transport: unknown transport {kind!r}; use 'inMemory', 'sqlite' or 'pulsar'"
    )


def check_client_reachable(kind: str, storage: str, storage_options: Mapping[str, Any]) -> None:
    """For a client: raises ConfigError when an in-memory transport could never reach the
    worker, because a worker of another process serves the SQLite state file it names."""
    path = storage_options.get("path")
    if kind == "inMemory" and storage == "sqlite" and isinstance(path, str):
        from .sqlite import state_lock

        state_lock.check_reachable(path)
