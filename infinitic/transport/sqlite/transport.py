"""SqliteTransport: the processes of one machine exchange envelopes through one SQLite file.

Each process has one poller (the `_pump` task) and one database thread. The poller gathers
what the process's handlers and senders produced since its last round (sends, acks,
redeliveries, dead letters, lease renewals) and what its subscriptions can take, and the
database thread does it all in one transaction (store.run_round). Nothing polls while idle:
the poller sleeps until another process writes the file (inotify; elsewhere a poll of
`PRAGMA data_version` backing off to `pollIntervalSeconds`), a delayed message falls due, a
lease needs renewing or another process's lease lapses. A client's results come through the
same poller: its response topic is one more subscription, no waiter polls the database.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import sqlite3
import time
import uuid
import zlib
from pathlib import Path

from ..base import MAX_COALESCED, DeadLetter, Handler, Transport, run_handler, take_queued
from . import store
from .settings import SqliteTransportSettings
from .wake import FileWatch

log = logging.getLogger("infinitic.transport.sqlite")

# with a file-change signal, a sweep now and then still finds what a lost signal hid
SAFETY_SWEEP_SECONDS = 2.0
RESPONSE_GC_SECONDS = 3600.0
_RETRY_AFTER_ERROR = 0.5
MAX_QUEUED = 5000
INLINE_MOVES = 16  # messages sent, acknowledged or retried by a round run on the event loop


def _small(job: store.Round) -> bool:
    moved = len(job.inserts) + len(job.acks) + len(job.retries)
    return moved <= INLINE_MOVES and not (
        job.dead or job.sweep or job.release or job.forget_topics or job.gc_before
    )


class _Subscription:
    """Handlers of one topic: shards by crc32(key) when keyed (one key, one handler, in order),
    else `concurrency` handlers on one queue."""

    def __init__(
        self,
        transport: SqliteTransport,
        topic: str,
        handler: Handler,
        keyed: bool,
        concurrency: int,
    ) -> None:
        self.transport = transport
        self.topic = topic
        self.handler = handler
        self.keyed = keyed
        self.many = run_handler(handler, keyed)
        prefetch = transport.settings.prefetch
        # engines are quick and claim for many keys at once; task handlers split work
        self.limit = concurrency * prefetch * (16 if keyed else 1)
        self.outstanding = 0
        self.backlog = True  # there may be rows to claim
        shards = concurrency if keyed else 1
        self.queues: list[asyncio.Queue[store.Claimed]] = [asyncio.Queue() for _ in range(shards)]
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(self._consume(q), name=f"consume {topic}")
            for q in self.queues
            for _ in range(1 if keyed else concurrency)
        ]

    def room(self) -> int:
        return max(0, self.limit - self.outstanding)

    def put(self, message: store.Claimed) -> None:
        self.outstanding += 1
        if self.keyed and len(self.queues) > 1 and message.key:
            self.queues[zlib.crc32(message.key.encode()) % len(self.queues)].put_nowait(message)
        else:
            self.queues[0].put_nowait(message)

    async def _consume(self, queue: asyncio.Queue[store.Claimed]) -> None:
        while True:
            message = await queue.get()
            run = [message]
            if self.many is not None and message.key and not message.attempts:
                run += self._run_after(queue, message.key)
            try:
                if len(run) > 1:
                    assert self.many is not None
                    await self.many([each.payload for each in run])
                else:
                    await self.handler(message.payload)
            except asyncio.CancelledError:
                raise  # still held: released to the others when the transport closes
            except Exception as exc:  # noqa: BLE001 - a handler failure means redelivery
                for each in run:
                    self.outstanding -= 1
                    self.transport._failed(self, each, exc)
            else:
                for each in run:
                    self.outstanding -= 1
                    self.transport._acked(self, each)

    @staticmethod
    def _run_after(queue: asyncio.Queue[store.Claimed], key: str) -> list[store.Claimed]:
        """The claimed messages of `key` right behind the one taken, never delivered before,
        handled with it in one call (docs/topics.md, "Coalescing")."""
        return take_queued(queue, lambda m: m.key == key and not m.attempts, MAX_COALESCED - 1)


class SqliteTransport(Transport):
    # the process that holds a workflow's key may as well run its workflow tasks
    workflow_tasks_in_process = True

    def __init__(self, settings: SqliteTransportSettings) -> None:
        self.settings = settings
        self.path = str(Path(settings.path).expanduser().resolve())
        # a pid alone may be reused after a restart: the suffix keeps two lives apart
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.users = 1
        self._subs: dict[str, _Subscription] = {}
        self._job = store.Round()
        self._futures: list[asyncio.Future[None]] = []
        self._claim_topics: set[str] = set()
        self._external = False
        self._sweep = True
        self._next_due: float | None = None
        self._last_sweep = 0.0
        self._last_renew = 0.0
        self._last_gc = time.time()
        self._last_id = 0
        self._version = -1
        self._conn: sqlite3.Connection | None = None
        self._db: concurrent.futures.ThreadPoolExecutor | None = None
        self._wake: asyncio.Event | None = None
        self._watch: FileWatch | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # rounds run, seconds spent in them on the database thread, messages claimed
        self.stats = {"rounds": 0, "db_seconds": 0.0, "claimed": 0, "sent": 0}

    def __repr__(self) -> str:
        return f"SqliteTransport({self.path!r}, owner={self.owner!r})"

    @property
    def key_lease_seconds(self) -> float:
        """A key's messages go to another process only once this one acknowledged those it
        holds (after its sends) or went silent this long (the engines' owners rely on it)."""
        return self.settings.lease_seconds

    @property
    def closed(self) -> bool:
        return self._closed

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._pump_task is not None:
            return
        loop = self._loop = asyncio.get_running_loop()
        self._db = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="infinitic-sqlite-transport"
        )
        s = self.settings
        try:
            self._conn = await loop.run_in_executor(
                self._db, store.connect, self.path, s.synchronous, s.busy_timeout_seconds
            )
        except sqlite3.Error as exc:
            self._db.shutdown(wait=False)
            from ...errors import ConfigError

            raise ConfigError(f"transport.sqlite.path: cannot open {self.path}: {exc}") from None
        conn = self._conn
        self._last_id, self._version = await loop.run_in_executor(
            self._db, lambda: (store.last_id(conn), store.data_version(conn))
        )
        self._wake = asyncio.Event()
        name = os.path.basename(self.path)
        self._watch = FileWatch(
            loop, os.path.dirname(self.path), {name, f"{name}-wal"}, self._on_file_change
        )
        self._pump_task = loop.create_task(self._pump(), name="sqlite transport poller")
        log.info(
            "sqlite transport on %s as %s (%s)",
            self.path,
            self.owner,
            "inotify" if self._watch.active else f"polling up to {s.poll_interval_seconds}s",
        )

    async def close(self) -> None:
        self.users -= 1
        if self.users > 0 or self._closed or self._pump_task is None:
            return
        self._closed = True
        tasks = {t for sub in self._subs.values() for t in sub.tasks}
        while tasks:  # a handler may swallow one cancellation: see the in-memory transport
            for task in tasks:
                task.cancel()
            _, tasks = await asyncio.wait(tasks, timeout=0.5)
        # the poller ends after its round in progress: a round is never cut in the middle
        # (its thread would go on with it while the round below ran the same work again)
        self._kick()
        await self._pump_task
        if self._watch is not None:
            self._watch.close()
        # what is still held goes to the other processes now, not after the lease; this
        # process's response topics have nobody left to read them
        self._job.release = True
        self._claim_topics.clear()
        self._sweep = self._external = False
        self._job.forget_topics = tuple(t for t in self._subs if t.startswith("response:"))
        try:
            await self._round(self._take(), [])
        except Exception:  # noqa: BLE001 - the leases lapse instead
            log.exception("sqlite transport: releasing the held messages failed")
        for future in self._futures:
            if not future.done():
                future.set_exception(RuntimeError("the sqlite transport is closed"))
        self._futures.clear()
        assert self._db is not None and self._conn is not None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._db, self._conn.close)
        self._db.shutdown(wait=True)
        self._subs.clear()

    # -- the contract ----------------------------------------------------------------------

    async def send(
        self, topic: str, payload: bytes, *, key: str | None = None, delay: float = 0.0
    ) -> None:
        """Queues the message for the poller's next round and returns. A handler's sends
        are committed before its acknowledgement, in the same transaction or an earlier one
        (a round takes everything queued so far, in order): a crash loses both or neither,
        and the message handled again sends them again."""
        if self._closed or self._loop is None:
            raise RuntimeError("the sqlite transport is not started or closed")
        now = time.time()
        if delay > 0:
            due = now + delay
            self._job.inserts.append((topic, key, payload, "", due, now))
            self._due(due)
        else:
            self._job.inserts.append((topic, key, payload, None, 0.0, now))
            if topic in self._subs:
                self._claim_topics.add(topic)
        self._kick()
        if len(self._job.inserts) >= MAX_QUEUED:
            # back-pressure: a sender faster than the rounds waits for the next commit
            future = self._loop.create_future()
            self._futures.append(future)
            await future

    async def subscribe(
        self, topic: str, handler: Handler, *, keyed: bool = False, concurrency: int = 1
    ) -> None:
        if topic in self._subs:
            raise ValueError(f"topic {topic!r} already has a subscriber in this process")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self._subs[topic] = _Subscription(self, topic, handler, keyed, concurrency)
        self._claim_topics.add(topic)
        self._kick()

    async def dead_letter(self, topic: str, payload: bytes, reason: str) -> None:
        log.error("dead-lettered a message of %s: %s", topic, reason)
        if self._loop is None or self._closed:
            raise RuntimeError("the sqlite transport is not started or closed")
        self._job.dead.append((None, topic, payload, reason[:2000]))
        future = self._loop.create_future()
        self._futures.append(future)
        self._kick()
        await future

    def read_dead_letters(self, topic: str | None = None) -> list[DeadLetter]:
        """The dead letters in the file (of `topic`, or all), oldest first. Blocking: call it
        from a thread of your own, not from the event loop."""
        conn = sqlite3.connect(self.path, timeout=self.settings.busy_timeout_seconds)
        try:
            sql = "SELECT topic, payload, reason FROM infinitic_dead_letters"
            rows = conn.execute(
                sql + (" WHERE topic = ? ORDER BY id" if topic else " ORDER BY id"),
                (topic,) if topic else (),
            ).fetchall()
        finally:
            conn.close()
        return [
            DeadLetter(t, p if isinstance(p, bytes) else str(p).encode(), r) for t, p, r in rows
        ]

    # -- from the handlers -----------------------------------------------------------------

    def _acked(self, sub: _Subscription, message: store.Claimed) -> None:
        self._job.acks.append(message.id)
        if sub.backlog:
            self._claim_topics.add(sub.topic)
        self._kick()

    def _failed(self, sub: _Subscription, message: store.Claimed, exc: BaseException) -> None:
        if message.attempts >= self.settings.max_redeliveries:
            reason = f"handler failed {message.attempts + 1} times: {type(exc).__name__}: {exc}"
            log.error("dead-lettered a message of %s: %s", sub.topic, reason)
            self._job.dead.append((message.id, sub.topic, message.payload, reason[:2000]))
        else:
            log.warning(
                "redelivering a message of %s after %s: %s", sub.topic, type(exc).__name__, exc
            )
            due = time.time() + self.settings.redelivery_delay_seconds * (message.attempts + 1)
            self._job.retries.append((message.id, due))
            self._due(due)
        if sub.backlog:
            self._claim_topics.add(sub.topic)
        self._kick()

    # -- the poller ------------------------------------------------------------------------

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _due(self, when: float) -> None:
        if self._next_due is None or when < self._next_due:
            self._next_due = when

    def _on_file_change(self) -> None:
        self._external = True
        self._kick()

    def _has_work(self) -> bool:
        job = self._job
        return bool(
            job.inserts or job.acks or job.retries or job.dead or self._external or self._sweep
        ) or any(self._subs[t].room() for t in self._claim_topics if t in self._subs)

    def _only_external(self) -> bool:
        job = self._job
        return (
            self._external
            and not (job.inserts or job.acks or job.retries or job.dead or self._sweep)
            and not (job.renew or job.gc_before)
            and not any(self._subs[t].room() for t in self._claim_topics if t in self._subs)
        )

    def _others_committed(self) -> bool:
        """Whether another connection committed since the last round looked. Read here, on
        the loop, while no round runs (the database thread is idle): a file-change signal
        caused by this process's own commit then costs no round."""
        assert self._conn is not None
        version = store.data_version(self._conn)
        if version == self._version:
            return False
        # the state's own writer in this process, or another process's rows for other topics
        # (a client hears every commit of the workers): two reads here save a round there
        top = store.nothing_new(self._conn, self._last_id, list(self._subs))
        if top is None:
            return True
        self._version, self._last_id = version, top
        return False

    def _timeout(self, now: float, poll: float) -> float:
        watched = self._watch is not None and self._watch.active
        wait = SAFETY_SWEEP_SECONDS if watched else poll
        if self._next_due is not None:
            wait = min(wait, self._next_due - now)
        if any(sub.outstanding for sub in self._subs.values()):
            wait = min(wait, self._last_renew + self.settings.lease_seconds / 3 - now)
        return max(0.0, wait)

    async def _pump(self) -> None:
        assert self._wake is not None
        watched = self._watch is not None and self._watch.active
        poll = 0.001  # without a file-change signal: doubles while idle, up to the setting
        while not self._closed:
            if not self._has_work():
                now = time.time()
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self._timeout(now, poll))
                    poll = 0.001
                except asyncio.TimeoutError:
                    if not watched:
                        self._external = True  # check data_version
                        poll = min(poll * 2, self.settings.poll_interval_seconds)
                if self.closed:  # close() woke it
                    return
            now = time.time()
            if self._next_due is not None and now >= self._next_due:
                self._next_due, self._sweep = None, True
            if now - self._last_sweep >= SAFETY_SWEEP_SECONDS:
                self._sweep = True
            if (
                any(sub.outstanding for sub in self._subs.values())
                and now - self._last_renew >= self.settings.lease_seconds / 3
            ):
                self._job.renew = True
                self._last_renew = now
            if now - self._last_gc >= 60:
                self._job.gc_before, self._last_gc = now - RESPONSE_GC_SECONDS, now
            if self._only_external() and not self._others_committed():
                self._external = False  # the signal was this process's own commit
                continue
            futures, self._futures = self._futures, []
            try:
                await self._round(self._take(), futures)
            except Exception:  # noqa: BLE001 - an outage delays, never drops: tried again
                if self._db is None or self._db._shutdown:
                    return  # the interpreter is exiting without close(): nothing to retry on
                log.exception("sqlite transport %s: a round failed; retrying", self.path)
                await asyncio.sleep(_RETRY_AFTER_ERROR)

    def _take(self) -> store.Round:
        job, self._job = self._job, store.Round()
        if self._sweep:
            job.sweep, self._sweep = True, False
            self._last_sweep = time.time()
        for topic in self._claim_topics:
            sub = self._subs.get(topic)
            if sub is not None and sub.room():
                job.claims[topic] = (sub.keyed, sub.room())
        self._claim_topics = set()
        return job

    async def _round(self, job: store.Round, futures: list[asyncio.Future[None]]) -> None:
        assert self._db is not None and self._loop is not None
        external, self._external = self._external, False
        # every topic's room, for what a sweep or another process's new rows bring
        subscribed = {} if self._closed else {t: (s.keyed, s.room()) for t, s in self._subs.items()}
        try:
            # unloaded, a small round costs less than the two thread hops around it: run on
            # the loop, unless another process holds the write lock (then the thread waits for
            # it). Busy, the loop has handlers to run meanwhile: the thread does the round
            idle = not any(sub.outstanding for sub in self._subs.values())
            inline = idle and _small(job)
            out = self._in_db(job, external, subscribed, wait=False) if inline else None
            if out is None:
                out = await self._loop.run_in_executor(
                    self._db, self._in_db, job, external, subscribed
                )
            assert out is not None  # the thread waits for the lock
        except asyncio.CancelledError:
            # the loop is going away: the thread finishes the round anyway (what it claims
            # stays this process's until released at close or its lease lapses)
            raise
        except BaseException:
            self._restore(job, futures, external)  # rolled back: all of it goes again
            raise
        for future in futures:
            if not future.done():
                future.set_result(None)
        if out.next_due is not None:
            self._due(out.next_due)
        for topic, sub in self._subs.items():
            if topic in out.more:
                sub.backlog = True
            elif topic in job.claims or job.sweep:
                sub.backlog = False
        for message in out.claimed:
            target = self._subs.get(message.topic)
            if target is not None:
                target.put(message)

    def _restore(
        self, job: store.Round, futures: list[asyncio.Future[None]], external: bool
    ) -> None:
        """Puts back what a failed round carried, ahead of what came since."""
        new = self._job
        new.inserts[:0] = job.inserts
        new.acks[:0] = job.acks
        new.retries[:0] = job.retries
        new.dead[:0] = job.dead
        new.renew = new.renew or job.renew
        new.release = new.release or job.release
        new.forget_topics = job.forget_topics or new.forget_topics
        self._futures[:0] = futures
        self._claim_topics.update(job.claims)
        self._sweep = self._sweep or job.sweep
        self._external = self._external or external

    def _in_db(
        self,
        job: store.Round,
        external: bool,
        subscribed: dict[str, tuple[bool, int]],
        *,
        wait: bool = True,
    ) -> store.Outcome | None:
        """On the database thread, or on the loop while no round runs (`wait` false: None
        when the file is locked by another process, with nothing done)."""
        conn = self._conn
        assert conn is not None
        started = time.perf_counter()
        if external:
            version = store.data_version(conn)
            if version != self._version:
                self._version = version
                job.new_since = self._last_id
        s = self.settings
        args = (conn, self.owner, s.lease_seconds, s.max_redeliveries, subscribed, job)
        try:
            out = store.run_round(
                *args, s.busy_timeout_seconds if wait else 0.0, s.busy_timeout_seconds
            )
        except sqlite3.OperationalError as exc:
            if wait or not store.is_busy(exc):
                raise
            return None  # rolled back, if it began
        if out.last_id is not None:
            self._last_id = max(self._last_id, out.last_id)
        self.stats["sent"] += len(job.inserts)
        self.stats["rounds"] += 1
        self.stats["claimed"] += len(out.claimed)
        self.stats["db_seconds"] += time.perf_counter() - started
        return out
