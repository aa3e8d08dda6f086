"""`infinitic demo`: a worker, a sample service and the booking saga on the embedded default."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import TaskFailedError
from ..worker import InfiniticWorker
from . import booking, services


def run_demo(clock: Callable[[], float] = time.perf_counter) -> int:
    say = print
    with tempfile.TemporaryDirectory(prefix="infinitic-demo-") as folder:
        db = str(Path(folder) / "demo.db")
        config = {
            "name": "demo-worker",
            "transport": "inMemory",
            "storage": {"sqlite": {"path": db}},
            "services": services.CONFIG["services"] + booking.CONFIG["services"],
            "workflows": booking.CONFIG["workflows"],
        }
        say(
            f"infinitic demo: one worker on the embedded default (in-memory transport, SQLite state in {db})"
        )
        with InfiniticWorker.from_config(config) as worker:
            client = worker.client
            _services(client, say, clock)
            _saga(client, say, clock)
    return 0


def _services(client: object, say: Callable[[str], None], clock: Callable[[], float]) -> None:
    from ..client import InfiniticClient

    assert isinstance(client, InfiniticClient)
    demo = client.new_service(services.DemoService, tags={"demo"})
    say("-- a service, called from the client")
    say(f"1. greet('world')          -> {demo.greet('world')}")
    say(f"2. flaky(2), retried       -> {demo.flaky(2)}")
    handles = [client.dispatch(demo.greet, f"#{i}") for i in range(3)]
    say(f"3. 3 dispatched at once    -> {[h.result(timeout=5)[:9] for h in handles]}")
    try:
        demo.slow(1.0)
    except TaskFailedError as exc:
        say(
            f"4. slow(1.0), timeout 0.2s -> failed after 1 retry: {exc.last_error.name}: {exc.last_error.message}"
        )
    try:
        demo.broken()
    except TaskFailedError as exc:
        say(
            f"5. broken(), ignored error -> failed at once: {exc.last_error.name}: {exc.last_error.message}"
        )
    start = clock()
    count = 1000
    pending = [client.dispatch(demo.greet, "x") for _ in range(count)]
    for handle in pending:
        handle.result(timeout=30)
    elapsed = clock() - start
    say(
        f"6. {count} tasks dispatched and awaited in {elapsed:.3f}s ({count / elapsed:,.0f} tasks/s)"
    )


def _saga(client: object, say: Callable[[str], None], clock: Callable[[], float]) -> None:
    from ..client import InfiniticClient

    assert isinstance(client, InfiniticClient)
    say("-- the booking saga: car, flight and hotel booked in parallel, compensated on failure")
    saga = client.new_workflow(booking.BookingWorkflow, tags={"demo"})
    for request in (booking.BookingRequest("ann"), booking.BookingRequest("bob", fail="hotel")):
        handle = client.dispatch(saga.book, request)
        say(f"7. book for {request.customer} (workflow {handle.id[:8]}):")
        for step in handle.result(timeout=30):
            say(f"     {step}")
    start = clock()
    count = 200
    handles = [client.dispatch(saga.book, booking.BookingRequest(f"c{i}")) for i in range(count)]
    for handle in handles:
        handle.result(timeout=60)
    elapsed = clock() - start
    say(f"8. {count} sagas (3 tasks each) in {elapsed:.3f}s ({count / elapsed:,.0f} workflows/s)")
