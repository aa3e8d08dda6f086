"""Services and a workflow with the annotation types of tests/test_serialization_types.py."""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import NamedTuple, NewType, TypedDict

from infinitic import Workflow, name

UserId = NewType("UserId", int)


class Point(NamedTuple):
    x: int
    y: float
    label: str = ""


class Span(TypedDict):
    start: dt.datetime
    length: dt.timedelta


class Opaque:  # a plain class: the decoder cannot build it from JSON
    def __init__(self, value: int) -> None:
        self.value = value


class CardDeclined(Exception):
    pass


class ExpiredCard(CardDeclined):
    pass


@name("TypedService")
class TypedService:
    @abstractmethod
    def shift(self, by: dt.timedelta, points: Sequence[Point]) -> list[Point]: ...

    @abstractmethod
    def spans(self, spans: Mapping[UserId, Span]) -> dict[UserId, dt.timedelta]: ...

    @abstractmethod
    def opaque(self, value: Opaque) -> int: ...

    @abstractmethod
    def opaque_result(self, value: int) -> Opaque: ...

    @abstractmethod
    def pay(self, amount: int) -> str: ...


class TypedServiceImpl(TypedService):
    def shift(self, by: dt.timedelta, points: Sequence[Point]) -> list[Point]:
        assert isinstance(by, dt.timedelta) and all(isinstance(p, Point) for p in points)
        seconds = by.total_seconds()
        return [p._replace(x=p.x + int(seconds), y=p.y + seconds) for p in points]

    def spans(self, spans: Mapping[UserId, Span]) -> dict[UserId, dt.timedelta]:
        return {user: span["length"] * 2 for user, span in spans.items()}

    def opaque(self, value: Opaque) -> int:
        return value.value

    def opaque_result(self, value: int) -> Opaque:
        return Opaque(value)

    def pay(self, amount: int) -> str:
        raise ExpiredCard(f"card expired, {amount} not paid")


@name("TypedWorkflow")
class TypedWorkflow(Workflow):
    @abstractmethod
    def run(self, by: dt.timedelta) -> list[Point]: ...

    @abstractmethod
    def opaque(self) -> int: ...


class TypedWorkflowImpl(TypedWorkflow):
    def run(self, by: dt.timedelta) -> list[Point]:
        return self.new_service(TypedService).shift(by, [Point(1, 2.5, "a")])

    def opaque(self) -> int:
        try:
            return self.new_service(TypedService).opaque(Opaque(1))
        except Exception as exc:  # noqa: BLE001 - the test reads what the workflow saw
            return -len(str(exc))
