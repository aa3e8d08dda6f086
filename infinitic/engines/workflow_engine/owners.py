"""Which engines are alive: each worker keeps a key with a short time to live fresh.

A worker that starts re-drives a pending workflow only when its state stalled or the engine
that saved it last is gone (engine.py, `WorkflowEngine.redrive`); a worker that stops cleanly
removes its key, one killed lets it expire.
"""

from __future__ import annotations

import time

from ...common.ids import new_id
from ...errors import VersionConflictError
from ...storage.base import Storage

DEFAULT_TTL_SECONDS = 10.0


def alive_key(owner: str) -> str:
    return f"worker.alive:{owner}"


class Owners:
    """This worker's engines' owner id, its heartbeat, and the liveness of other owners."""

    def __init__(
        self, storage: Storage, owner: str | None = None, ttl_seconds: float = DEFAULT_TTL_SECONDS
    ) -> None:
        self.storage = storage
        # short: it is written in every saved state
        self.id = owner or new_id().replace("-", "")[:16]
        self.ttl_seconds = ttl_seconds

    async def beat(self) -> None:
        """Keeps this owner alive for `ttl_seconds` more (call every third of it)."""
        key = alive_key(self.id)
        for _ in range(3):
            found = await self.storage.get(key)
            try:
                await self.storage.put(
                    key,
                    str(time.time()).encode(),
                    found[1] if found else 0,
                    ttl_seconds=self.ttl_seconds,
                )
                return
            except VersionConflictError:  # expired between the read and the write: again
                continue

    async def leave(self) -> None:
        found = await self.storage.get(alive_key(self.id))
        if found is not None:
            try:
                await self.storage.put(alive_key(self.id), None, found[1])
            except VersionConflictError:
                pass  # expired meanwhile: gone all the same

    async def alive(self, owner: str) -> bool:
        if owner == self.id:
            return True
        # a state saved before owners were recorded has none: nobody vouches for it
        return bool(owner) and await self.storage.get(alive_key(owner)) is not None
