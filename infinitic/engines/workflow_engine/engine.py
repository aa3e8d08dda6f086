"""The workflow engine's I/O: load the state, run the pure step, save, then send.

What a step sends is saved with the state it leads to, in the same compare-and-set (the state's
outbox), and sent only once that save succeeded: an engine holding a stale state loses the
compare-and-set and has sent nothing. The outbox is cleared by the next save, not by a second
write; an engine that reads the state from storage sends again what of it is still owed
(owed.py), since its writer may have died before sending.
"""

from __future__ import annotations

import asyncio
import logging
import typing
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from ..._core.envelope import EnvelopeError
from ...common import clock
from ...common import messages as m
from ...common import workflow_messages as w
from ...common.ids import new_id
from ...errors import VersionConflictError
from ...storage.base import IndexEntry, Storage
from ...storage.workflow_state import state_key
from ...transport.base import RunHandler, Topics, Transport, decode_or_dead_letter
from . import coalesce, progress, stored
from .coalesce import COALESCED
from .context import StepContext
from .handlers import start
from .handlers.dispatching import redrive
from .handlers.start import pending_key
from .owed import still_owed
from .owners import Owners
from .process import HANDLED, process
from .scheduler import schedule, workflow_task
from .state_ops import TERMINAL
from .waiting import StateIndex

log = logging.getLogger("infinitic.engines.workflow")

DEFAULT_RETENTION_SECONDS = 24 * 3600.0
MAX_CONFLICT_RETRIES = 20
DEFAULT_CACHE_SIZE = 10_000
DEFAULT_REDRIVE_AFTER_SECONDS = 60.0
DEFAULT_TOMBSTONE_SECONDS = 7 * 24 * 3600.0
# a start older than this (or than half the retention) may be a late copy: its tombstone is
# looked for (a fresh one never is, so a new instance costs no read more)
LATE_START_SECONDS = 60.0
# what this topic takes: the rest is dead-lettered
_ACCEPTED = (*HANDLED, w.ConfirmStart)
# pending instances whose heads a re-driving sweep reads in one storage call
REDRIVE_READ_CHUNK = 256
# workflow tasks one step runs on this worker's executor at most (each result may ask for the
# next one, e.g. when outcomes arrived while it ran); the step then sends the next one
MAX_LOCAL_TASKS = 4


Cached = tuple[w.WorkflowState, int, stored.Layout, StateIndex]


class StateCache:
    """The last state this engine saved, its version, storage layout and readiness index, per
    workflow (bounded, LRU).

    `take` removes the entry: the handler mutates the state in place, so a handler that fails
    half-way must not leave a half-updated state behind; a successful save puts it back.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, Cached] = OrderedDict()

    def take(self, key: str) -> Cached | None:
        return self._entries.pop(key, None)

    def put(
        self,
        key: str,
        state: w.WorkflowState,
        version: int,
        layout: stored.Layout,
        index: StateIndex,
    ) -> None:
        if self.size <= 0:
            return
        self._entries[key] = (state, version, layout, index)
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def pop(self, key: str) -> None:
        self._entries.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._entries


def _running(state: w.WorkflowState | None) -> str | None:
    return state.running_task_id if state is not None else None


def workflow_id_of(msg: Any) -> str | None:
    if isinstance(msg, w.MethodOutcome):
        return msg.parent_workflow_id
    return getattr(msg, "workflow_id", None)


class WorkflowEngine:
    """Consumes one workflow name's engine topic: per message, loads the instance's state, runs
    the pure step (process.py), saves the new state with its outbox, then sends the outbox."""

    def __init__(
        self,
        transport: Transport,
        storage: Storage,
        workflow_name: str,
        *,
        concurrency: int = 1,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        cache_size: int = DEFAULT_CACHE_SIZE,
        redrive_after_seconds: float = DEFAULT_REDRIVE_AFTER_SECONDS,
        owners: Owners | None = None,
        tombstone_seconds: float = DEFAULT_TOMBSTONE_SECONDS,
    ) -> None:
        self.transport = transport
        self.storage = storage
        self.workflow_name = workflow_name
        self.concurrency = concurrency
        self.retention_seconds = retention_seconds
        self.redrive_after_seconds = redrive_after_seconds
        self.tombstone_seconds = tombstone_seconds
        self.owners = owners or Owners(storage)
        self.topic = Topics.workflow_engine(workflow_name)
        self._cache = StateCache(cache_size)
        self._unsent = 0  # saved in an outbox, not yet taken by the transport
        # called with each state saved (on the event loop): for monitoring and tests
        self.listeners: list[Callable[[w.WorkflowState], None]] = []
        # called with (message, saved state or None, outbox) once a message's effects are
        # saved: the event listener and the metrics read what happened there (infinitic/events)
        self.taps: list[Callable[[Any, w.WorkflowState | None, StepContext], None]] = []
        # this worker's workflow-task executor, when the transport lets a step run its
        # workflow tasks in process (the worker sets it; None: they go through the transport)
        self.local_executor: (
            Callable[[w.ExecuteWorkflowTask], Awaitable[w.WorkflowTaskCompleted]] | None
        ) = None

    async def start(self) -> None:
        await self.transport.subscribe(
            self.topic,
            RunHandler(self.handle, self.handle_many),
            keyed=True,
            concurrency=self.concurrency,
        )

    async def handle(self, payload: bytes) -> None:
        await self.handle_many([payload])

    async def handle_many(self, payloads: list[bytes]) -> None:
        """Handles queued messages of one workflow, in order: a run of outcomes (results,
        timers, deadlines, signals) in one step, each other message alone (coalesce.py)."""
        run: list[tuple[Any, bytes]] = []
        for payload in payloads:
            msg = await decode_or_dead_letter(
                self.transport, self.topic, payload, _ACCEPTED, "workflow-engine"
            )
            if msg is None:
                continue
            workflow_id = workflow_id_of(msg)
            if run and (type(msg) not in COALESCED or workflow_id != workflow_id_of(run[0][0])):
                await self._apply_all(run)
                run = []
            if type(msg) in COALESCED and workflow_id:
                run.append((msg, payload))
            elif isinstance(msg, w.ConfirmStart) and workflow_id:
                await self._confirm_start(msg)
            elif not isinstance(msg, HANDLED) or not workflow_id:
                reason = f"unexpected {type(msg).__name__} on a workflow-engine topic"
                await self.transport.dead_letter(self.topic, payload, reason)
            else:
                await self._apply_all([(msg, payload)])
        if run:
            await self._apply_all(run)

    async def _apply_all(self, messages: list[tuple[Any, bytes]]) -> None:
        while messages:
            messages = messages[await self._apply(messages) :]

    async def _apply(self, messages: list[tuple[Any, bytes]]) -> int:
        """Applies messages of one workflow from the head of `messages` in one step (one load,
        one save, then the sends); returns how many (coalesce.py decides where a step ends)."""
        msg = messages[0][0]
        workflow_id = workflow_id_of(msg)
        assert workflow_id
        key = state_key(self.workflow_name, workflow_id)
        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            # the cache saves a read and a decode; a stale entry is caught by the CAS below
            cached = self._cache.take(key) if attempt == 0 else None
            state: w.WorkflowState | None
            if cached is not None:
                # saved by this engine, and its outbox sent
                state, version, layout, index = cached
                owed: list[w.OutboxItem] = []
            else:
                index = StateIndex()
                try:
                    loaded = await stored.load(self.storage, key)
                except (stored.NotAState, EnvelopeError) as exc:
                    reason = (
                        str(exc)
                        if isinstance(exc, stored.NotAState)  # the messages are fine: the state
                        else f"the state under {key} cannot be decoded: {exc}"
                    )
                    for _, payload in messages:
                        await self.transport.dead_letter(self.topic, payload, reason)
                    return len(messages)
                state, version, layout = loaded if loaded else (None, 0, stored.Layout())
                # even after a conflict: the engine that won it may have died since its save
                owed = layout.outbox
                layout.outbox = []  # read once: a cached layout keeps no copy of it
                if owed and await self.owners.sent_by(layout.owner):
                    owed = []  # a key moved from a live process: sent again, tasks run twice
            running_before = _running(state)
            status_before = state.status if state is not None else None
            now = clock.now()
            if (
                state is None
                and isinstance(msg, w.DispatchWorkflow)
                and await self._late_start(msg, now)
            ):
                out = StepContext(now=now, index=index)
                start.refuse_late_start(msg, out)
                await self._send(None, out.saved(), out.now)
                return 1
            steps = coalesce.Steps(state, index)
            new_state = state
            for msg, _ in messages:
                out = StepContext(now=now, index=steps.index)
                new_state = process(new_state, msg, out)
                if not steps.add(msg, new_state, out):
                    break
            handled = len(steps.done)
            if self.local_executor is not None and new_state is not None:
                new_state = await self._run_here(new_state, steps, now)
            out = steps.merged(now)
            if owed:
                owed = still_owed(owed, running_before, new_state, out.index)
            try:
                await self._commit(key, new_state, version, layout, out, owed, status_before)
            except VersionConflictError:
                # another engine saved this workflow meanwhile: apply the messages to its state
                # (nothing was sent: what this step decided was never saved)
                self._cache.pop(key)
                if attempt == MAX_CONFLICT_RETRIES:
                    raise
                log.info("state of %s changed meanwhile; handling the message again", workflow_id)
                continue
            last = len(steps.done) - 1
            for i, (msg, step_out, step_status) in enumerate(steps.done):
                if i < last:
                    step_out.later = True
                    # the status it left is the next one's before: one warning per change
                    step_status = new_state.status if new_state is not None else None
                for tap in self.taps:
                    tap(msg, new_state, step_out)
                progress.handled(
                    self.workflow_name, workflow_id, msg, new_state, step_status, step_out
                )
            return handled
        raise AssertionError("unreachable")  # the last conflict raised

    async def _run_here(
        self, state: w.WorkflowState, steps: coalesce.Steps, now: float
    ) -> w.WorkflowState:
        """Runs the workflow tasks the step sends on this worker's executor and applies their
        results in the same step: one save where the task and its result took one each, and
        no trip through the transport. Each way the message is a copy, as the transport would
        have made (the executor's live runs keep what they are given; the state is mutated
        in place). A task that cannot run here is sent as usual."""
        assert self.local_executor is not None
        for _ in range(MAX_LOCAL_TASKS):
            mark = next((i for i in steps.done[-1][1].sends if i.message is None), None)
            task = workflow_task(state, now) if mark is not None else None
            if task is None or mark is None:
                break
            payload = m.encode(task)
            try:
                copy = typing.cast(w.ExecuteWorkflowTask, m.decode(payload))
                completed = await self.local_executor(copy)
                result = m.decode(m.encode(completed))
            except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # noqa: BLE001 - sent through the transport instead
                log.exception("running workflow task %s here failed", task.workflow_task_id)
                break
            mark.message, mark.here = task, True
            out = StepContext(now=now, index=steps.index)
            new_state = process(state, result, out)
            if new_state is None:
                break
            state = new_state
            steps.add(result, state, out)
        return state

    async def _late_start(self, msg: w.DispatchWorkflow, now: float) -> bool:
        """Whether `msg` is a copy of the start of an instance that ended and is forgotten."""
        if self.tombstone_seconds <= 0:
            return False
        if now - msg.emitted_at < min(LATE_START_SECONDS, self.retention_seconds / 2):
            return False
        key = start.tombstone_key(self.workflow_name, msg.workflow_id, msg.message_id)
        return await self.storage.get(key) is not None

    async def _confirm_start(self, msg: w.ConfirmStart) -> None:
        """Tells the client whether the start it sent before this message is stored: handled
        after it (one message of a key at a time), so it is, unless it was never received."""
        key = state_key(self.workflow_name, msg.workflow_id)
        found = key in self._cache or await self.storage.get(key) is not None
        reply = w.TagIds(
            new_id(),
            msg.workflow_name,
            "",
            [msg.workflow_id] if found else [],
            msg.message_id,
            clock.now(),
        )
        await self.transport.send(msg.reply_to, m.encode(reply))

    async def _commit(
        self,
        key: str,
        state: w.WorkflowState | None,
        version: int,
        layout: stored.Layout,
        out: StepContext,
        owed: list[w.OutboxItem],
        status_before: str | None = None,
    ) -> None:
        """`status_before`: the state's status before the message (None: no state), so the
        workflow index (storage/index.py) is written with the state only when it changes."""
        items = out.saved()
        # an instance joins the pending set before its state is saved, and leaves it after:
        # a crash in between leaves an id that re-driving checks, never a state it misses
        for op, set_key, member in out.set_ops:
            if op == "add":
                await self.storage.add_to_set(set_key, member)
        if state is None:
            await self._send(None, items, out.now)  # nothing saved: nothing to bind them to
        else:
            index = stored.index_entry(state) if state.status != status_before else None
            try:
                version, layout = await self._save(key, state, version, layout, out, items, index)
                # the workflow task, saved as a mark: built once, sent, and shown to the taps
                task = None
                for item in out.sends:
                    if item.message is None:
                        item.message = task = task or workflow_task(state, out.now)
                # the save is what decides: only now is anything sent (and what an earlier
                # save of this state may not have sent, `owed`, again)
                await self._send(state, owed + items if owed else items, out.now, task)
            except VersionConflictError:
                raise  # nothing saved
            except BaseException:
                # saved maybe, sent maybe not: whoever handles this key next sends it again
                await self.owners.disown()
                raise
            if state.status not in TERMINAL:
                # cached only once sent: a cached state's outbox is known to be out
                self._cache.put(key, state, version, layout, out.index)
            # an ended one is not cached: reads go to the storage, which knows the retention
            for listener in self.listeners:
                listener(state)
        after = []
        for op, set_key, member in out.set_ops:
            if op == "remove":
                after.append(self.storage.remove_from_set(set_key, member))
            elif op == "tombstone" and self.tombstone_seconds > 0:
                after.append(self._tombstone(set_key))
        # at once (an instance that ends has both): a backend may batch them into one write
        if len(after) == 1:
            await after[0]
        elif after:
            await asyncio.gather(*after)

    async def _tombstone(self, key: str) -> None:
        try:
            await self.storage.put(key, b"", 0, ttl_seconds=self.tombstone_seconds)
        except VersionConflictError:
            pass  # ended before (then retried and ended again): it is there already

    async def _save(
        self,
        key: str,
        state: w.WorkflowState,
        version: int,
        layout: stored.Layout,
        out: StepContext,
        outbox: list[w.OutboxItem],
        index: IndexEntry | None = None,
    ) -> tuple[int, stored.Layout]:
        """The one write of a step: `state` and its `outbox`, compare-and-set over `version`,
        with the state's workflow index entry when it changed (in the same atomic write)."""
        ttl = self.retention_seconds if state.status in TERMINAL else None
        # an ended state is written whole, so every segment gets the retention
        changed = out.dirty.slots if ttl is None else None
        writes, layout = stored.writes(key, state, version, layout, changed, outbox, self.owners.id)
        if len(writes) == 1:
            new_version = await self.storage.put(
                key, writes[0][1], version, ttl_seconds=ttl, index=index
            )
        else:
            new_version = (await self.storage.put_many(writes, ttl_seconds=ttl, index=index))[0]
        return new_version, layout

    async def _send(
        self,
        state: w.WorkflowState | None,
        items: list[w.OutboxItem],
        now: float,
        task: w.ExecuteWorkflowTask | None = None,
    ) -> None:
        """Sends `items`; a mark of the running workflow task sends `task` (else it is built
        from `state`)."""
        # sent together: each send is handed to its producer in order (so per-topic order
        # holds), and the acknowledgements are awaited at once rather than one by one
        sends = []
        for item in items:
            payload = item.message
            if not payload:
                if task is None and state is not None:
                    task = workflow_task(state, now)
                if task is None:
                    continue
                payload = m.encode(task)
            delay = item.deliver_at - now if item.deliver_at > 0 else 0.0
            sends.append(self.transport.send(item.topic, payload, key=item.key, delay=delay))
        self._unsent += len(sends)
        try:
            if len(sends) == 1:
                await sends[0]
            elif sends:
                await asyncio.gather(*sends)
        finally:
            self._unsent -= len(sends)

    def outbox_backlog(self) -> int:
        """How many saved outbox messages the transport has not taken yet (a metrics gauge)."""
        return self._unsent

    async def redrive(self, *, stalled_only: bool = True) -> int:
        """Re-sends what the unfinished workflows wait on, for those that need it.

        `stalled_only`: only a workflow whose state has not moved for `redrive_after_seconds`
        or whose last writer is gone (a live worker is handling the others, and re-sending
        their work would run it twice). Returns how many were re-driven.
        """
        ids = sorted(await self.storage.get_set(pending_key(self.workflow_name)))
        driven = 0
        alive: dict[str, bool] = {}
        moving: set[str] = set()
        if stalled_only:
            # most pending instances are moving: told apart by their heads, read many at once
            for i in range(0, len(ids), REDRIVE_READ_CHUNK):
                moving |= await self._moving(ids[i : i + REDRIVE_READ_CHUNK], alive)
        for workflow_id in ids:
            if workflow_id in moving:
                continue
            key = state_key(self.workflow_name, workflow_id)
            loaded = await stored.load(self.storage, key)
            if loaded is not None and loaded[0].status in TERMINAL:
                # it ended, and its engine died before its id left the set: maybe before it
                # sent how it ended, too (to waiting clients, a parent, tag engines)
                owed = still_owed(loaded[2].outbox, None, loaded[0], StateIndex(), redriving=True)
                if owed and not await self.owners.alive(loaded[2].owner):
                    await self._send(loaded[0], owed, clock.now())
            if loaded is None or loaded[0].status in TERMINAL:
                # never saved, or it ended before its id left the set
                await self.storage.remove_from_set(pending_key(self.workflow_name), workflow_id)
                continue
            state, version, layout = loaded
            now = clock.now()
            if stalled_only and now - state.updated_at < self.redrive_after_seconds:
                if layout.owner not in alive:
                    alive[layout.owner] = await self.owners.alive(layout.owner)
                if alive[layout.owner]:
                    continue
            out = StepContext(now=now)
            out.dirty.everything()  # a re-drive may touch any command: the state is written whole
            redrive(state, out)
            if state.running_task_id is not None:
                out.workflow_task(state.workflow_name, state.workflow_id)
            schedule(state, out)
            owed = still_owed(layout.outbox, None, state, out.index, redriving=True)
            try:
                await self._commit(key, state, version, layout, out, owed, state.status)
                driven += 1
            except VersionConflictError:
                # an engine of a worker still running moved it on meanwhile: it is not stuck
                log.info(
                    "workflow %s moved on while re-driving it; left to its engine", workflow_id
                )
        if driven:
            log.info("re-drove %d unfinished %s workflows", driven, self.workflow_name)
        return driven

    async def _moving(self, ids: list[str], alive: dict[str, bool]) -> set[str]:
        """Of `ids`, those whose saved head shows a running instance that `redrive` leaves
        alone (moved within `redrive_after_seconds`, its writer alive); any other is loaded
        whole there."""
        keys = {state_key(self.workflow_name, i): i for i in ids}
        heads = await self.storage.get_many(list(keys))
        now = clock.now()
        moving = set()
        for key, (raw, _) in heads.items():
            try:
                head = m.decode(raw)
            except EnvelopeError:
                continue  # told by the full load
            if type(head) is not w.SavedState or type(head.state) is not w.WorkflowState:
                continue
            state = head.state
            if state.status in TERMINAL or now - state.updated_at >= self.redrive_after_seconds:
                continue
            if head.owner not in alive:
                alive[head.owner] = await self.owners.alive(head.owner)
            if alive[head.owner]:
                moving.add(keys[key])
        return moving
