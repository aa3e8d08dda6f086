# ruff: noqa: F821  (reveal_type is a mypy builtin; this module is never run)
"""The README's examples, as users write them: checked by `mypy --strict` (no plugin, no ignore,
no config) in test_mypy.py, which also compares every `reveal_type` with the `# revealed:`
comment on its line. Never imported by pytest: the `reveal_type` calls are for mypy only."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from infinitic import (
    Channel,
    InfiniticClient,
    InfiniticWorker,
    Workflow,
    all_of,
    any_of,
    name,
    retry,
    task,
    timeout,
)


# -- a service: the interface declares abstract methods, the implementation subclasses it -------
@name("HelloService")
class HelloService:
    @abstractmethod
    def greet(self, who: str) -> str: ...

    @abstractmethod
    def add(self, a: int, b: int = 0) -> int: ...


class HelloServiceImpl(HelloService):
    @timeout(seconds=5)
    @retry(maximum_retries=3)
    def greet(self, who: str) -> str:
        return f"hello {who} (attempt {task.retry_index}, tags {sorted(task.tags)})"

    def add(self, a: int, b: int = 0) -> int:
        return a + b


# the other two accepted styles: a Protocol (services only), `raise NotImplementedError` bodies
class PriceService(Protocol):
    def price(self, sku: str) -> float: ...


class StockService:
    def count(self, sku: str) -> int:
        raise NotImplementedError


@dataclass
class Receipt:
    total: float
    lines: list[str]


# -- a workflow ---------------------------------------------------------------------------------
@name("Onboarding")
class Onboarding(Workflow):
    approvals = Channel[str]()

    @abstractmethod
    def run(self, user: str) -> str: ...

    @abstractmethod
    def receipt(self, skus: list[str]) -> Receipt: ...


class OnboardingImpl(Onboarding):
    def run(self, user: str) -> str:
        hello = self.new_service(HelloService)
        reveal_type(hello)  # revealed: readme_examples.HelloService
        first = hello.greet(user)
        reveal_type(first)  # revealed: str
        a = self.dispatch(hello.greet, "a")
        reveal_type(a)  # revealed: infinitic.workflow.deferred.Deferred[str]
        both = all_of(a, self.dispatch(hello.greet, "b")).result()
        reveal_type(both)  # revealed: list[str]
        mixed = all_of(a, self.dispatch(hello.add, 1, b=2))
        reveal_type(mixed)  # revealed: infinitic.workflow.deferred.Deferred[list[str | int]]
        many = all_of(*[self.dispatch(hello.add, i) for i in range(10)]).result()
        reveal_type(many)  # revealed: list[int]
        fired = self.timer(timedelta(hours=1))
        reveal_type(fired)  # revealed: infinitic.workflow.deferred.Deferred[datetime.datetime]
        who = self.approvals.receive().result()
        reveal_type(who)  # revealed: str
        first_of = any_of(self.approvals.receive(), self.timer(timedelta(days=7))).result()
        reveal_type(first_of)  # revealed: str | datetime.datetime
        price = self.new_service(PriceService).price("sku-1")
        reveal_type(price)  # revealed: float
        stock = self.dispatch(self.new_service(StockService).count, "sku-1")
        reveal_type(stock)  # revealed: infinitic.workflow.deferred.Deferred[int]
        child = self.new_workflow(Onboarding)
        receipt = self.dispatch(child.receipt, ["sku-1"]).result()
        reveal_type(receipt)  # revealed: readme_examples.Receipt
        self.get_workflow_by_id(Onboarding, "some-id").approvals.send("me")
        return f"{first} / {both} / approved by {who}"

    def receipt(self, skus: list[str]) -> Receipt:
        return Receipt(total=0.0, lines=skus)


# -- async def workflow methods: they await stub calls, Deferreds, all_of/any_of, timers, receive()
@name("Inventory")
class Inventory:
    @abstractmethod
    async def reserve(self, sku: str) -> bool: ...


@name("Checkout")
class Checkout(Workflow):
    paid = Channel[float]()

    @abstractmethod
    async def run(self, skus: list[str]) -> str: ...

    @abstractmethod
    def status(self) -> str: ...  # sync and async methods mix in one workflow


class CheckoutImpl(Checkout):
    async def run(self, skus: list[str]) -> str:
        inventory = self.new_service(Inventory)
        first = await inventory.reserve(skus[0])
        reveal_type(first)  # revealed: bool
        every = await all_of(*[self.dispatch(inventory.reserve, sku) for sku in skus])
        reveal_type(every)  # revealed: list[bool]
        greeting = await self.dispatch(self.new_service(HelloService).greet, "x")
        reveal_type(greeting)  # revealed: str
        paid_or_late = await any_of(self.paid.receive(), self.timer(timedelta(days=1)))
        reveal_type(paid_or_late)  # revealed: float | datetime.datetime
        fired = await self.timer(timedelta(minutes=5))
        reveal_type(fired)  # revealed: datetime.datetime
        amount = await self.paid.receive()
        reveal_type(amount)  # revealed: float
        return f"{first} {every} {greeting} {amount} at {fired}"

    def status(self) -> str:
        return "open"


async def async_client(client: InfiniticClient) -> None:
    reserved = await client.new_service(Inventory).reserve("sku-1")
    reveal_type(reserved)  # revealed: bool
    checkout = client.new_workflow(Checkout)
    reveal_type(await checkout.run(["sku-1"]))  # revealed: str
    started = client.dispatch(checkout.run, ["sku-1"])
    reveal_type(started)  # revealed: infinitic.client.handles.TaskHandle[str]
    existing = client.get_workflow_by_id(Checkout, started.id)
    reveal_type(await client.wait_async(existing, timeout=30))  # revealed: Any
    ids = await client.get_ids_by_tag_async(Checkout, "user:42")
    reveal_type(ids)  # revealed: list[str]


def service_in_20_lines() -> None:
    config = {
        "name": "hello-worker",
        "services": [
            {"name": "HelloService", "class": "__main__.HelloServiceImpl", "concurrency": 4}
        ],
    }
    with InfiniticWorker.from_config(config) as worker:
        hello = worker.client.new_service(HelloService, tags={"user:42"})
        print(hello.greet("world"))
        handle = worker.client.dispatch(hello.greet, "async")
        print(handle.id, handle.result(timeout=30))
        reveal_type(handle)  # revealed: infinitic.client.handles.TaskHandle[str]


# -- a client -----------------------------------------------------------------------------------
def client_side(client: InfiniticClient) -> None:
    hello = client.new_service(HelloService, tags={"user:42"})
    reveal_type(hello.greet("world"))  # revealed: str
    handle = client.dispatch(hello.greet, "async")
    reveal_type(handle)  # revealed: infinitic.client.handles.TaskHandle[str]
    reveal_type(handle.result(timeout=30))  # revealed: str
    added = client.dispatch(hello.add, 1, b=2)
    reveal_type(added)  # revealed: infinitic.client.handles.TaskHandle[int]
    wf = client.new_workflow(Onboarding, tags={"user:42"})
    reveal_type(wf.run("world"))  # revealed: str
    started = client.dispatch(wf.run, "async")
    reveal_type(started)  # revealed: infinitic.client.handles.TaskHandle[str]
    stub = client.get_workflow_by_id(Onboarding, started.id)
    stub.approvals.send("ann")
    client.get_workflow_by_tag(Onboarding, "user:42").approvals.send("bob")
    reveal_type(client.get_ids_by_tag(Onboarding, "user:42"))  # revealed: list[str]
    client.cancel(stub)
    reveal_type(client.new_service(PriceService).price("x"))  # revealed: float


async def in_asyncio(client: InfiniticClient) -> datetime:
    total = await client.dispatch(client.new_service(HelloService).add, 1, 2)
    reveal_type(total)  # revealed: int
    return datetime.now()
