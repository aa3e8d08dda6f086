"""Which engines are alive: each worker keeps a key with a short time to live fresh.

A worker that starts re-drives a pending workflow only when its state stalled or the engine
that saved it last is gone (engine.py, `WorkflowEngine.redrive`); a worker that stops cleanly
removes its key, one killed lets it expire.
"""

from __future__ import annotations

import logging
import time

from ...common.ids import new_id
from ...errors import VersionConflictError
from ...storage.base import Storage

log = logging.getLogger("infinitic.engines.workflow")

DEFAULT_TTL_SECONDS = 10.0


def alive_key(owner: str) -> str:
    return f"worker.alive:{owner}"


class Owners:
    """This worker's engines' owner id, its heartbeat, and the liveness of other owners."""

    def __init__(
        self,
        storage: Storage,
        owner: str | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        *,
        live_owners_sent: bool = False,
    ) -> None:
        """`live_owners_sent`: the transport hands a key's messages to another process only
        once the one that holds them acknowledged them (after its sends) or was silent for
        longer than `ttl_seconds` (the SQLite transport's lease, with this ttl below it): a
        live owner's saved outbox is then known to be sent (see `sent_by`)."""
        self.storage = storage
        # short: it is written in every saved state
        self.id = owner or new_id().replace("-", "")[:16]
        self.ttl_seconds = ttl_seconds
        self.live_owners_sent = live_owners_sent

    @classmethod
    def for_transport(cls, storage: Storage, key_lease_seconds: float | None) -> Owners:
        """The owners of a worker whose transport holds keys for `key_lease_seconds` (None: it
        may hand them on at any time)."""
        if key_lease_seconds is None:
            return cls(storage)
        # renewed every third of the lease, it lapses 2/3 of a lease after a kill at the
        # earliest: the killed owner must look gone by then
        ttl = min(DEFAULT_TTL_SECONDS, 0.6 * key_lease_seconds)
        return cls(storage, ttl_seconds=ttl, live_owners_sent=True)

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

    async def leave(self, owner: str | None = None) -> None:
        key = alive_key(owner or self.id)
        found = await self.storage.get(key)
        if found is not None:
            try:
                await self.storage.put(key, None, found[1])
            except VersionConflictError:
                pass  # expired meanwhile: gone all the same

    async def disown(self) -> None:
        """After a step that may have saved its state without sending its outbox: the states
        saved under this id look gone from now on (their outboxes are sent again by whoever
        reads them), and the next saves carry a new id."""
        if not self.live_owners_sent:
            return  # nobody trusts a live owner's outbox: nothing to take back
        old, self.id = self.id, new_id().replace("-", "")[:16]
        try:
            await self.beat()
            await self.leave(old)
        except Exception:  # noqa: BLE001 - a storage outage: the old key expires by itself
            log.warning("could not remove the liveness key of %s", old, exc_info=True)

    async def alive(self, owner: str) -> bool:
        if owner == self.id:
            return True
        # a state saved before owners were recorded has none: nobody vouches for it
        return bool(owner) and await self.storage.get(alive_key(owner)) is not None

    async def sent_by(self, owner: str) -> bool:
        """Whether the outbox of a state that `owner` saved is known to be sent, so an engine
        that reads that state from the storage (its key moved here) owes nothing of it.

        Not for this owner (its cache missed: a failure between its save and its sends), nor
        a gone one (it may have died in between), nor on a transport that may hand a key on
        before its holder's sends are out (`live_owners_sent` false: Pulsar redelivers a
        killed consumer's messages at once, before its liveness key expires).
        """
        return self.live_owners_sent and owner != self.id and await self.alive(owner)
