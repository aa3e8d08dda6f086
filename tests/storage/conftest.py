"""Fixtures of the storage tests: real servers for the Redis backend (see redis_server.py)."""

from __future__ import annotations

from .redis_server import redis_server, redis_server_factory

__all__ = ["redis_server", "redis_server_factory"]
