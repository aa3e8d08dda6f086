"""The SQLite transport's contract between processes, each "process" here being a transport of
its own (its own owner id, connection, poller and leases) on one file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from infinitic.errors import ConfigError
from infinitic.transport.factory import create_transport
from infinitic.transport.sqlite import SqliteTransport, SqliteTransportSettings
from tests.helpers.waiting import until

WAIT = 30.0


def _transport(path: Path, **options: Any) -> SqliteTransport:
    transport = create_transport("sqlite", {"path": str(path), **options})
    assert isinstance(transport, SqliteTransport)
    return transport


def _run(test: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(test(), 2 * WAIT)  # a hang fails with where it hung

    asyncio.run(bounded())


async def _die(transport: SqliteTransport) -> None:
    """What kill -9 leaves: the claims stay in the file, nobody renews them."""
    tasks = [t for sub in transport._subs.values() for t in sub.tasks]
    assert transport._pump_task is not None
    for task in [*tasks, transport._pump_task]:
        task.cancel()
    await asyncio.gather(*tasks, transport._pump_task, return_exceptions=True)
    assert transport._watch is not None and transport._db is not None
    transport._watch.close()
    assert transport._conn is not None
    conn = transport._conn
    await asyncio.get_running_loop().run_in_executor(transport._db, conn.close)
    transport._db.shutdown()


def test_unknown_and_bad_options_are_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"transport\.sqlite\.leaseSecond: unknown key"):
        SqliteTransportSettings.from_options({"path": "x.db", "leaseSecond": 1})
    with pytest.raises(ConfigError, match=r"transport\.sqlite\.leaseSeconds: must be greater"):
        SqliteTransportSettings.from_options({"path": "x.db", "leaseSeconds": 0})
    with pytest.raises(ConfigError, match=r"transport\.sqlite\.path"):
        SqliteTransportSettings.from_options({})


def test_processes_split_the_work_of_a_shared_topic_and_each_message_runs_once(
    tmp_path: Path,
) -> None:
    async def test() -> None:
        db = tmp_path / "bus.db"
        sender, a, b = _transport(db), _transport(db), _transport(db)
        runs: dict[str, list[bytes]] = defaultdict(list)
        for t in (sender, a, b):
            await t.start()

        def handler(name: str) -> Callable[[bytes], Awaitable[None]]:
            async def handle(payload: bytes) -> None:
                # some work (a second for all of them in one process), so that one process
                # cannot take it all before the other one's first claim, even on a loaded machine
                await asyncio.sleep(0.01)
                # counted once done: a run cut short by its process's close is handed over and
                # runs again (at least once), which is not what this test is about
                runs[name].append(payload)

            return handle

        await a.subscribe("task-executor:S", handler("a"), concurrency=2)
        await b.subscribe("task-executor:S", handler("b"), concurrency=2)
        sent = [f"m{i}".encode() for i in range(200)]
        await asyncio.gather(*(sender.send("task-executor:S", p) for p in sent))
        try:
            await until(
                lambda: len(runs["a"]) + len(runs["b"]) >= len(sent), "not all handled", WAIT
            )
        except AssertionError:
            for t in (a, b):
                sub = t._subs["task-executor:S"]
                print(
                    t.owner,
                    t.stats,
                    sub.outstanding,
                    sub.room(),
                    sub.backlog,
                    [q.qsize() for q in sub.queues],
                    [x.done() for x in sub.tasks],
                    t._pump_task,
                    t._job,
                    t._claim_topics,
                    t._next_due,
                    time.time(),
                )
            conn = sqlite3.connect(db)
            print(
                conn.execute(
                    "select id, owner, lease_until, attempts from infinitic_messages limit 20"
                ).fetchall()
            )
            raise
        for t in (sender, a, b):
            await t.close()
        assert sorted(runs["a"] + runs["b"]) == sorted(sent)  # each exactly once
        assert runs["a"] and runs["b"], {k: len(v) for k, v in runs.items()}

    _run(test)


def test_one_key_is_handled_by_one_process_at_a_time_in_the_order_sent(tmp_path: Path) -> None:
    async def test() -> None:
        db = tmp_path / "bus.db"
        sender, a, b = _transport(db), _transport(db), _transport(db)
        for t in (sender, a, b):
            await t.start()
        busy: set[str] = set()
        seen: dict[str, list[int]] = defaultdict(list)
        overlaps: list[str] = []

        def handler() -> Callable[[bytes], Awaitable[None]]:
            async def handle(payload: bytes) -> None:
                key, seq = payload.decode().split(":")
                if key in busy:
                    overlaps.append(key)
                busy.add(key)
                await asyncio.sleep(0.001 * (int(seq) % 3))
                seen[key].append(int(seq))
                busy.discard(key)

            return handle

        await a.subscribe("workflow-engine:W", handler(), keyed=True, concurrency=4)
        await b.subscribe("workflow-engine:W", handler(), keyed=True, concurrency=4)
        keys = [f"k{i}" for i in range(12)]
        for seq in range(25):  # one after another, as an engine's messages of one key come
            await asyncio.gather(
                *(sender.send("workflow-engine:W", f"{k}:{seq}".encode(), key=k) for k in keys)
            )
        await until(lambda: sum(map(len, seen.values())) >= 25 * len(keys), "not all handled", WAIT)
        for t in (sender, a, b):
            await t.close()
        assert overlaps == []
        assert {k: seen[k] for k in keys} == {k: list(range(25)) for k in keys}

    _run(test)


def test_a_delayed_message_comes_when_due_and_not_before(tmp_path: Path) -> None:
    async def test() -> None:
        db = tmp_path / "bus.db"
        sender, receiver = _transport(db), _transport(db)
        await sender.start()
        await receiver.start()
        got: dict[bytes, float] = {}

        async def handle(payload: bytes) -> None:
            got[payload] = time.time()

        await receiver.subscribe("workflow-engine:W", handle, keyed=True)
        sent_at = time.time()
        await sender.send("workflow-engine:W", b"later", key="k", delay=0.5)
        await sender.send("workflow-engine:W", b"now", key="k")
        await until(lambda: len(got) == 2, "the delayed message never came", WAIT)
        await sender.close()
        await receiver.close()
        assert got[b"later"] >= sent_at + 0.5
        assert got[b"now"] < got[b"later"]

    _run(test)


def test_a_dead_process_claims_are_taken_over_after_its_lease(tmp_path: Path) -> None:
    async def test() -> None:
        db = tmp_path / "bus.db"
        sender, doomed, heir = (
            _transport(db),
            _transport(db, leaseSeconds=0.5),
            _transport(db, leaseSeconds=0.5),
        )
        for t in (sender, doomed, heir):
            await t.start()
        started = asyncio.Event()
        handled: list[tuple[bytes, float]] = []

        async def hang(payload: bytes) -> None:
            started.set()
            await asyncio.Event().wait()

        async def handle(payload: bytes) -> None:
            handled.append((payload, time.time()))

        await doomed.subscribe("workflow-engine:W", hang, keyed=True)
        await sender.send("workflow-engine:W", b"first", key="k")
        await asyncio.wait_for(started.wait(), WAIT)
        died_at = time.time()
        await _die(doomed)
        await heir.subscribe("workflow-engine:W", handle, keyed=True)
        await sender.send("workflow-engine:W", b"second", key="k")
        await until(
            lambda: len(handled) == 2, "the dead process's message was not taken over", WAIT
        )
        await sender.close()
        await heir.close()
        # the key stayed the dead process's until its lease lapsed, then came in order
        assert [p for p, _ in handled] == [b"first", b"second"]
        assert handled[0][1] >= died_at + 0.3

    _run(test)


def test_a_closing_process_hands_its_claims_over_at_once(tmp_path: Path) -> None:
    async def test() -> None:
        db = tmp_path / "bus.db"
        sender, leaving, staying = (
            _transport(db),
            _transport(db, leaseSeconds=3600),
            _transport(db, leaseSeconds=3600),
        )
        for t in (sender, leaving, staying):
            await t.start()
        started = asyncio.Event()
        handled: list[bytes] = []

        async def hang(payload: bytes) -> None:
            started.set()
            await asyncio.Event().wait()

        async def handle(payload: bytes) -> None:
            handled.append(payload)

        await leaving.subscribe("task-executor:S", hang)
        await sender.send("task-executor:S", b"work")
        await asyncio.wait_for(started.wait(), WAIT)
        await staying.subscribe("task-executor:S", handle)
        await leaving.close()
        await until(lambda: handled == [b"work"], "the released message was not taken", WAIT)
        await sender.close()
        await staying.close()

    _run(test)


def test_failing_handlers_redeliver_then_dead_letter_with_the_reason(tmp_path: Path) -> None:
    async def test() -> None:
        db = tmp_path / "bus.db"
        t = _transport(db, maxRedeliveries=2, redeliveryDelaySeconds=0.01)
        await t.start()
        attempts: list[bytes] = []

        async def handle(payload: bytes) -> None:
            attempts.append(payload)
            raise ValueError("cannot handle this")

        await t.subscribe("task-executor:S", handle)
        await t.send("task-executor:S", b"poison")
        loop = asyncio.get_running_loop()

        async def dead() -> list[Any]:
            return await loop.run_in_executor(None, t.read_dead_letters, "task-executor:S")

        letters: list[Any] = []
        deadline = time.monotonic() + WAIT
        while not letters:
            assert time.monotonic() < deadline, "never dead-lettered"
            letters = await dead()
            await asyncio.sleep(0.01)
        await t.close()
        assert attempts == [b"poison"] * 3
        assert [(d.payload, d.reason) for d in letters] == [
            (b"poison", "handler failed 3 times: ValueError: cannot handle this")
        ]

    _run(test)


def test_a_malformed_row_is_dead_lettered_and_the_topic_keeps_flowing(tmp_path: Path) -> None:
    async def test() -> None:
        db = tmp_path / "bus.db"
        t = _transport(db)
        await t.start()
        conn = sqlite3.connect(db)
        with conn:  # what a hand-written INSERT or a foreign tool could leave
            conn.execute(
                "INSERT INTO infinitic_messages (topic, key, payload, sent_at)"
                " VALUES ('task-executor:S', NULL, 'not bytes', 0)"
            )
        conn.close()
        handled: list[bytes] = []

        async def handle(payload: bytes) -> None:
            handled.append(payload)

        await t.subscribe("task-executor:S", handle)
        await t.send("task-executor:S", b"fine")
        await until(lambda: handled == [b"fine"], "the topic stopped at the malformed row", WAIT)
        letters = await asyncio.get_running_loop().run_in_executor(None, t.read_dead_letters)
        await t.close()
        assert [(d.topic, d.payload) for d in letters] == [("task-executor:S", b"not bytes")]
        assert "payload is str, not a BLOB" in letters[0].reason

    _run(test)


def test_without_a_file_change_signal_processes_poll_and_still_meet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where there is no inotify (macOS, Windows) a process polls `PRAGMA data_version`."""
    from infinitic.transport.sqlite import wake

    monkeypatch.setattr(wake, "INOTIFY", False)

    async def test() -> None:
        db = tmp_path / "bus.db"
        sender, receiver = _transport(db), _transport(db, pollIntervalSeconds=0.02)
        await sender.start()
        await receiver.start()
        assert receiver._watch is not None and not receiver._watch.active
        got: list[bytes] = []

        async def handle(payload: bytes) -> None:
            got.append(payload)

        await receiver.subscribe("workflow-engine:W", handle, keyed=True)
        for i in range(20):
            await sender.send("workflow-engine:W", f"{i}".encode(), key="k")
        await sender.send("workflow-engine:W", b"later", key="k", delay=0.2)
        await until(lambda: len(got) == 21, "the polling process missed messages", WAIT)
        await sender.close()
        await receiver.close()
        assert got == [f"{i}".encode() for i in range(20)] + [b"later"]

    _run(test)


def test_a_process_runs_no_round_for_commits_that_bring_it_nothing(tmp_path: Path) -> None:
    async def test() -> None:
        db = tmp_path / "bus.db"
        client, worker = _transport(db), _transport(db)
        for t in (client, worker):
            await t.start()
        got: list[bytes] = []
        handled: list[bytes] = []

        async def on_response(payload: bytes) -> None:
            got.append(payload)

        async def on_task(payload: bytes) -> None:
            handled.append(payload)

        await client.subscribe("response:c", on_response)
        await worker.subscribe("task-executor:S", on_task)
        await asyncio.sleep(0.1)
        before = client.stats["rounds"], worker.stats["rounds"]
        state = sqlite3.connect(db, isolation_level=None)  # the worker's state writes
        state.execute("CREATE TABLE IF NOT EXISTS states (k TEXT PRIMARY KEY, v BLOB)")
        for i in range(20):  # the worker's own messages, and its state: one commit after another
            await worker.send("task-executor:S", f"t{i}".encode())
            await until(lambda i=i: len(handled) > i, "the worker's message not handled", WAIT)
            state.execute("INSERT OR REPLACE INTO states VALUES ('wf', ?)", (str(i).encode(),))
        state.close()
        rounds = client.stats["rounds"] - before[0], worker.stats["rounds"] - before[1]
        # the client woke on each commit, read two numbers and slept again (a sweep may run)
        assert rounds[0] <= 2 < 20 <= rounds[1], rounds
        await worker.send("response:c", b"result")  # and what is for it still reaches it
        await until(lambda: got == [b"result"], "the client's response did not come", WAIT)
        for t in (client, worker):
            await t.close()

    _run(test)


def test_a_round_waits_while_another_process_holds_the_write_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        db = tmp_path / "bus.db"
        a, b = _transport(db), _transport(db)
        for t in (a, b):
            await t.start()
        got: list[bytes] = []

        async def handle(payload: bytes) -> None:
            got.append(payload)

        await b.subscribe("task-executor:S", handle)
        other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process writes for a while
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, other.execute, "COMMIT")
        await a.send("task-executor:S", b"m")
        await until(lambda: got == [b"m"], "the message did not come once the lock was free", WAIT)
        other.close()
        for t in (a, b):
            await t.close()

    with caplog.at_level("WARNING", logger="infinitic.transport.sqlite"):
        _run(test)
    assert [r.getMessage() for r in caplog.records] == []  # waited, no failed round
