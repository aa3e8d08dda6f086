"""`infinitic demo`: a worker and a sample service on the embedded default, narrated."""

from __future__ import annotations

from collections.abc import Callable

from . import task
from .errors import TaskFailedError
from .service import name, retry, timeout
from .worker import InfiniticWorker


@name("DemoService")
class DemoService:
    def greet(self, who: str) -> str: ...

    def flaky(self, failures: int) -> str: ...

    def slow(self, seconds: float) -> str: ...

    def broken(self) -> str: ...


class DemoServiceImpl(DemoService):
    def greet(self, who: str) -> str:
        return f"hello {who} (task {task.task_id[:8]}, tags {sorted(task.tags)})"

    @retry(minimum_seconds=0.05, maximum_retries=5, random_factor=0.0)
    def flaky(self, failures: int) -> str:
        if task.retry_index < failures:
            raise ConnectionError(f"attempt {task.retry_index} failed on purpose")
        return f"succeeded at attempt {task.retry_index} after: {task.last_error.message if task.last_error else '-'}"

    @timeout(seconds=0.2)
    @retry(maximum_retries=1, minimum_seconds=0.05, random_factor=0.0)
    def slow(self, seconds: float) -> str:
        import time

        time.sleep(seconds)
        return "finished"

    @retry(ignored_exceptions=[ValueError])
    def broken(self) -> str:
        raise ValueError("this input can never work")


CONFIG = {
    "name": "demo-worker",
    "transport": "inMemory",
    "storage": "inMemory",
    "services": [
        {"name": "DemoService", "class": "infinitic.demo.DemoServiceImpl", "concurrency": 4}
    ],
}


def run_demo(clock: Callable[[], float]) -> int:
    say = print
    say(
        "infinitic demo: a worker running DemoService on the embedded default (in-memory transport)"
    )
    with InfiniticWorker.from_config(CONFIG) as worker:
        client = worker.client
        demo = client.new_service(DemoService, tags={"demo"})
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
    say("done: the workflow demo (booking saga) comes with workflow support")
    return 0
