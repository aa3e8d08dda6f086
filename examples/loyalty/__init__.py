"""A long-running workflow: points arrive on a channel; a timer closes each period."""

from __future__ import annotations

from abc import abstractmethod
from datetime import timedelta

from infinitic import Channel, Workflow, any_of, name
from infinitic.workflow import DeferredStatus


@name("LoyaltyProgram")
class LoyaltyProgram(Workflow):
    points = Channel[int]()

    @abstractmethod
    def run(self, periods: int, period_seconds: float) -> int: ...
    @abstractmethod
    def balance(self) -> int: ...


class LoyaltyProgramImpl(LoyaltyProgram):
    def __init__(self) -> None:
        self.total = 0

    def run(self, periods: int, period_seconds: float) -> int:
        for _ in range(periods):
            closing = self.timer(timedelta(seconds=period_seconds))
            while True:
                earned = self.points.receive()
                any_of(earned, closing).result()
                if earned.status() != DeferredStatus.COMPLETED:
                    break  # the period closed first
                self.total += earned.result()
            self.total += 1  # a point for staying another period
        return self.total

    def balance(self) -> int:
        return self.total


CONFIG = {
    "name": "loyalty-worker",
    "workflows": [{"name": "LoyaltyProgram", "class": "examples.loyalty.LoyaltyProgramImpl"}],
}
