# ruff: noqa: F841  (the assignments are what mypy must refuse)
"""What mypy must refuse: each line marked with an error comment must give that error code, and no other
line any (test_mypy.py)."""

from __future__ import annotations

from abc import abstractmethod

from infinitic import Channel, InfiniticClient, Workflow


class Hello:
    @abstractmethod
    def greet(self, who: str) -> str: ...


class Plain:
    def greet(self, who: str) -> str: ...  # error: empty-body


class Points(Workflow):
    points = Channel[int]()

    @abstractmethod
    def start(self) -> int: ...


class PointsImpl(Points):
    def start(self) -> int:
        hello = self.new_service(Hello)
        self.dispatch(hello.greet, 42)  # error: call-overload
        self.dispatch(hello.greet, "x", "y")  # error: call-overload
        text: str = self.points.receive().result()  # error: assignment
        return 0


class AsyncPoints(Points):
    async def start(self) -> int:  # error: override
        hello = self.new_service(Hello)
        await hello.greet("x")  # error: misc
        number: int = await self.dispatch(hello.greet, "x")  # error: call-overload
        return number


def client_side(client: InfiniticClient) -> None:
    hello = client.new_service(Hello)
    client.dispatch(hello.greet, who=3)  # error: call-overload
    number: int = client.dispatch(hello.greet, "x").result()  # error: assignment
    client.get_workflow_by_id(Points, "id").points.send("ten")  # error: arg-type
