"""The smallest service: an interface, an implementation, and a worker config that runs it."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from infinitic import name, task, timeout


@dataclass
class Greeting:
    text: str
    attempt: int


@name("HelloService")
class HelloService:
    @abstractmethod
    def greet(self, who: str) -> Greeting: ...

    @abstractmethod
    def add(self, a: int, b: int) -> int: ...


class HelloServiceImpl(HelloService):
    @timeout(seconds=5)
    def greet(self, who: str) -> Greeting:
        return Greeting(f"hello {who}", task.retry_index)

    def add(self, a: int, b: int) -> int:
        return a + b


CONFIG = {
    "name": "hello-worker",
    "transport": "inMemory",
    "services": [
        {"name": "HelloService", "class": "examples.hello.HelloServiceImpl", "concurrency": 4}
    ],
}
