"""A sample service that shows retries, timeouts and the task context."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from .. import task
from ..service import name, retry, timeout


@name("DemoService")
class DemoService:
    @abstractmethod
    def greet(self, who: str) -> str: ...

    @abstractmethod
    def flaky(self, failures: int) -> str: ...

    @abstractmethod
    def slow(self, seconds: float) -> str: ...

    @abstractmethod
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


CONFIG: dict[str, Any] = {
    "name": "demo-worker",
    "transport": "inMemory",
    "storage": "inMemory",
    "services": [
        {
            "name": "DemoService",
            "class": "infinitic.demo.services.DemoServiceImpl",
            "concurrency": 4,
        }
    ],
}
