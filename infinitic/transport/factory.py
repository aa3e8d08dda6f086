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
        raise ConfigError(
            "transport: 'pulsar' is not available in this release yet; use 'inMemory'"
        )
    raise ConfigError(f"transport: unknown transport {kind!r}; use 'inMemory' or 'pulsar'")
