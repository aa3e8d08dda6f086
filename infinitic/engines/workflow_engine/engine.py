"""The workflow engine's I/O: load the state, run the pure step, send, save (compare-and-set)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..._core.envelope import EnvelopeError
from ...common import messages as m
from ...common import workflow_messages as w
from ...errors import VersionConflictError
from ...storage.base import Storage
from ...transport.base import Topics, Transport
from . import stored, waiting
from .handlers.dispatching import redrive
from .handlers.start import pending_key
from .outbox import Outbox
from .process import HANDLED, process
from .scheduler import resend_running_task, schedule
from .state_ops import TERMINAL

log = logging.getLogger("infinitic.engines.workflow")

DEFAULT_RETENTION_SECONDS = 24 * 3600.0
MAX_CONFLICT_RETRIES = 20
DEFAULT_CACHE_SIZE = 10_000


class StateCache:
    """The last state this engine saved, and its version, per workflow (bounded, LRU).

    `take` removes the entry: the handler mutates the state in place, so a handler that fails
    half-way must not leave a half-updated state behind; a successful save puts it back.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[w.WorkflowState, int, stored.Layout]] = OrderedDict()

    def take(self, key: str) -> tuple[w.WorkflowState, int, stored.Layout] | None:
        return self._entries.pop(key, None)

    def put(self, key: str, state: w.WorkflowState, version: int, layout: stored.Layout) -> None:
        if self.size <= 0:
            return
        self._entries[key] = (state, version, layout)
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def pop(self, key: str) -> None:
        self._entries.pop(key, None)


def state_key(workflow_name: str, workflow_id: str) -> str:
    return f"workflow.state:{workflow_name}:{workflow_id}"


def workflow_id_of(msg: Any) -> str | None:
    if isinstance(msg, w.MethodOutcome):
        return msg.parent_workflow_id
    return getattr(msg, "workflow_id", None)


class WorkflowEngine:
    def __init__(
        self,
        transport: Transport,
        storage: Storage,
        workflow_name: str,
        *,
        concurrency: int = 1,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.transport = transport
        self.storage = storage
        self.workflow_name = workflow_name
        self.concurrency = concurrency
        self.retention_seconds = retention_seconds
        self.topic = Topics.workflow_engine(workflow_name)
        self._cache = StateCache(cache_size)
        # called with each state saved (on the event loop): for monitoring and tests
        self.listeners: list[Callable[[w.WorkflowState], None]] = []
        # called with (message, saved state or None, outbox) once a message's effects are
        # saved: the event listener and the metrics read what happened there (infinitic/events)
        self.taps: list[Callable[[Any, w.WorkflowState | None, Outbox], None]] = []

    async def start(self) -> None:
        await self.transport.subscribe(
            self.topic, self.handle, keyed=True, concurrency=self.concurrency
        )

    async def handle(self, payload: bytes) -> None:
        try:
            msg = m.decode(payload)
        except EnvelopeError as exc:
            await self.transport.dead_letter(self.topic, payload, f"undecodable envelope: {exc}")
            return
        workflow_id = workflow_id_of(msg)
        if not isinstance(msg, HANDLED) or not workflow_id:
            reason = f"unexpected {type(msg).__name__} on a workflow-engine topic"
            await self.transport.dead_letter(self.topic, payload, reason)
            return
        key = state_key(self.workflow_name, workflow_id)
        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            # the cache saves a read and a decode; a stale entry is caught by the CAS below
            cached = self._cache.take(key) if attempt == 0 else None
            state: w.WorkflowState | None
            if cached is not None:
                state, version, layout = cached
            else:
                try:
                    loaded = await stored.load(self.storage, key)
                except stored.NotAState as exc:
                    await self.transport.dead_letter(self.topic, payload, str(exc))
                    return
                except EnvelopeError as exc:  # the message is fine: say that the state is not
                    reason = f"the state under {key} cannot be decoded: {exc}"
                    await self.transport.dead_letter(self.topic, payload, reason)
                    return
                state, version, layout = loaded if loaded else (None, 0, stored.Layout())
            out = Outbox(now=time.time())
            new_state = process(state, msg, out)
            try:
                await self._commit(key, new_state, version, layout, out)
                for tap in self.taps:
                    tap(msg, new_state, out)
                return
            except VersionConflictError:
                # another engine saved this workflow meanwhile: apply the message to its state
                self._cache.pop(key)
                if attempt == MAX_CONFLICT_RETRIES:
                    raise
                log.info("state of %s changed meanwhile; handling the message again", workflow_id)

    async def _commit(
        self,
        key: str,
        state: w.WorkflowState | None,
        version: int,
        layout: stored.Layout,
        out: Outbox,
    ) -> None:
        # sent before saving: a crash in between re-sends on redelivery, and every handler
        # downstream recognizes duplicates by their deterministic ids
        # sent together: each send is handed to its producer in order (so per-topic order
        # holds), and the acknowledgements are awaited at once rather than one by one
        sends = [
            self.transport.send(item.topic, m.encode(item.message), key=item.key, delay=item.delay)
            for item in out.items
        ]
        if len(sends) == 1:
            await sends[0]
        elif sends:
            await asyncio.gather(*sends)
        # an instance joins the pending set before its state is saved, and leaves it after:
        # a crash in between leaves an id that re-driving checks, never a state it misses
        for op, set_key, member in out.storage_ops:
            if op == "add":
                await self.storage.add_to_set(set_key, member)
        if state is not None:
            ttl = self.retention_seconds if state.status in TERMINAL else None
            # an ended state is written whole, so every segment gets the retention
            changed = waiting.changed_segments(state) if ttl is None else None
            writes, layout = stored.writes(key, state, version, layout, changed)
            if len(writes) == 1:
                new_version = await self.storage.put(key, writes[0][1], version, ttl_seconds=ttl)
            else:
                new_version = (await self.storage.put_many(writes, ttl_seconds=ttl))[0]
            waiting.saved(state)
            if ttl is None:
                self._cache.put(key, state, new_version, layout)
            # an ended one is not cached: reads go to the storage, which knows the retention
            for listener in self.listeners:
                listener(state)
        for op, set_key, member in out.storage_ops:
            if op == "remove":
                await self.storage.remove_from_set(set_key, member)

    async def redrive(self) -> int:
        """After a restart: re-sends what every unfinished workflow was waiting on."""
        ids = await self.storage.get_set(pending_key(self.workflow_name))
        for workflow_id in sorted(ids):
            key = state_key(self.workflow_name, workflow_id)
            loaded = await stored.load(self.storage, key)
            if loaded is None or loaded[0].status in TERMINAL:
                # never saved, or it ended before its id left the set
                await self.storage.remove_from_set(pending_key(self.workflow_name), workflow_id)
                continue
            state, version, layout = loaded
            out = Outbox(now=time.time())
            redrive(state, out)
            resend_running_task(state, out)
            schedule(state, out)
            try:
                await self._commit(key, state, version, layout, out)
            except VersionConflictError:
                # an engine of a worker still running moved it on meanwhile: it is not stuck,
                # and what this re-sent carries the same ids, so it is taken as a duplicate
                log.info(
                    "workflow %s moved on while re-driving it; left to its engine", workflow_id
                )
        if ids:
            log.info("re-drove %d unfinished %s workflows", len(ids), self.workflow_name)
        return len(ids)
