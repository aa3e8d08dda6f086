"""A subscription's receiving thread, on a stand-in consumer (no broker): what the client has
queued comes to the loop as one burst, in order; a paused receiver takes nothing; a failed
receive is tried again and loses nothing; each test ends by stopping the receiver and checking
that its thread ended."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from infinitic.transport.pulsar import receiver as r

pulsar = pytest.importorskip("pulsar")


class QueueConsumer:
    """`receive` as the client's: the next queued message, or Timeout after `timeout_ms`
    (0: at once); AlreadyClosed once closed; `failures` raise ConnectError first."""

    def __init__(self, failures: int = 0) -> None:
        self.queued: queue.Queue[Any] = queue.Queue()
        self.failures = failures
        self.closed = threading.Event()
        self.calls = 0

    def receive(self, timeout_ms: int) -> Any:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise pulsar.ConnectError("connection lost")
        try:
            item = (
                self.queued.get(timeout=timeout_ms / 1000)
                if timeout_ms
                else self.queued.get_nowait()
            )
        except queue.Empty:
            if self.closed.is_set():
                raise pulsar.AlreadyClosed("closed") from None
            raise pulsar.Timeout("timed out") from None
        if item is None:  # close() woke the receive
            raise pulsar.AlreadyClosed("closed")
        return item

    def close(self) -> None:
        self.closed.set()
        self.queued.put(None)


class Bursts:
    def __init__(self) -> None:
        self.bursts: list[list[Any]] = []
        self.arrived = threading.Condition()

    def deliver(self, burst: list[Any]) -> None:
        with self.arrived:
            self.bursts.append(burst)
            self.arrived.notify_all()

    def wait_for(self, count: int) -> list[Any]:
        """The messages delivered once `count` of them have been (5 s at most)."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.all()) >= count, 5.0), self.all()
            return self.all()

    def all(self) -> list[Any]:
        return [message for burst in self.bursts for message in burst]


@contextmanager
def receiving(consumer: QueueConsumer, seen: Bursts, paused: bool = False) -> Iterator[r.Receiver]:
    """A started receiver; then stopped, its consumer closed, and its thread ended."""
    receiver = r.Receiver(consumer, seen.deliver, "test-receive")
    if paused:
        receiver.pause()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
        consumer.close()
        receiver.join(5.0)
    assert not receiver._thread.is_alive()


def test_what_the_client_has_queued_comes_as_one_burst_in_order() -> None:
    consumer, seen = QueueConsumer(), Bursts()
    for i in range(10):
        consumer.queued.put(i)
    with receiving(consumer, seen):
        assert seen.wait_for(10) == list(range(10))
        assert seen.bursts == [list(range(10))]
        consumer.queued.put(10)  # a lone message is not held back waiting for company
        assert seen.wait_for(11)[-1] == 10


def test_a_burst_is_at_most_receive_burst_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(r, "RECEIVE_BURST", 4)
    consumer, seen = QueueConsumer(), Bursts()
    for i in range(10):
        consumer.queued.put(i)
    with receiving(consumer, seen):
        assert seen.wait_for(10) == list(range(10))
        assert [len(b) for b in seen.bursts] == [4, 4, 2]


def test_a_paused_receiver_takes_nothing_until_resumed() -> None:
    consumer, seen = QueueConsumer(), Bursts()
    with receiving(consumer, seen, paused=True) as receiver:
        consumer.queued.put("a")
        consumer.queued.put("b")
        # while paused the thread waits before `receive`: the client keeps what it has (its
        # queue fills, and the broker stops pushing)
        with seen.arrived:
            assert not seen.arrived.wait_for(lambda: seen.all(), 0.3)
        assert consumer.queued.qsize() == 2 and consumer.calls == 0
        receiver.resume()
        assert seen.wait_for(2) == ["a", "b"]


def test_a_failed_receive_is_tried_again_and_loses_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(r, "RETRY_SECONDS", 0.0)
    consumer, seen = QueueConsumer(failures=1), Bursts()
    consumer.queued.put("kept")
    with caplog.at_level("WARNING", logger="infinitic.transport.pulsar"):
        with receiving(consumer, seen):
            assert seen.wait_for(1) == ["kept"]
    assert "receiving failed (ConnectError" in caplog.text
