"""A subscription's receiving thread: it takes the consumer's messages in bursts and hands each
burst to the event loop at once.

Why not the client's message listener: a listener is called once per message on the client's
listener thread, which wakes for it and takes the GIL for it. Here one thread blocks in
`receive` until a message is there, then takes what else the client has already queued
(`receive(0)` does not wait), up to `RECEIVE_BURST`: one GIL turn and one loop wake-up for the
burst. Raw client, 20,000 keyed messages published and consumed: 0.61-0.72 s of client CPU
against 0.86-1.03 s with a listener, 1.7x the messages per second (benchmarks/README.md, "#18
fifth pass"). `batch_receive` would do the same but waits
for its timeout whenever fewer messages than its maximum are queued, which a lone message would
pay at every hop.

Back-pressure: while paused, the thread does not call `receive`, so the client's queue fills up
to `receiverQueueSize` and the broker stops pushing (flow permits), as a paused listener does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("infinitic.transport.pulsar")

RECEIVE_BURST = 500  # messages handed to the loop in one go, at most
POLL_MS = 200  # how soon an idle thread notices that it is stopped
RETRY_SECONDS = 1.0  # after a receive that failed otherwise than by timing out


class Receiver:
    def __init__(self, consumer: Any, deliver: Callable[[list[Any]], None], name: str) -> None:
        self._consumer = consumer
        self._deliver = deliver
        self._open = threading.Event()
        self._open.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def pause(self) -> None:
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    def stop(self) -> None:
        """The thread ends within POLL_MS, or at once when its consumer closes."""
        self._stop.set()
        self._open.set()

    def join(self, seconds: float) -> None:
        if self._thread.is_alive():
            self._thread.join(seconds)

    def _run(self) -> None:
        import pulsar

        consumer = self._consumer
        timeout = pulsar.Timeout
        while not self._stop.is_set():
            self._open.wait()
            if self._stop.is_set():
                return
            try:
                burst = [consumer.receive(POLL_MS)]
            except timeout:
                continue
            except pulsar.AlreadyClosed:
                return
            except Exception as exc:  # noqa: BLE001 - the client reconnects by itself
                if not self._stop.is_set():
                    log.warning("receiving failed (%s: %s): trying again", type(exc).__name__, exc)
                    self._stop.wait(RETRY_SECONDS)
                continue
            while len(burst) < RECEIVE_BURST:
                try:
                    burst.append(consumer.receive(0))
                except Exception:  # noqa: BLE001 - Timeout: nothing more queued; else next turn
                    break
            self._deliver(burst)
