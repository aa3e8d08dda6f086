"""The timer scenarios' workflow (catalog §G, Infinitic's `TimerWorkflow`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from infinitic import Channel, Workflow, any_of


class TimerWorkflow(Workflow):
    channel = Channel[str]()

    def await_duration(self, ms: int) -> datetime: ...
    def await_instant(self, instant: datetime) -> datetime: ...
    def await_signal(self, ms: int) -> str: ...


class TimerWorkflowImpl(TimerWorkflow):
    def await_duration(self, ms: int) -> datetime:
        return self.timer(timedelta(milliseconds=ms)).result()

    def await_instant(self, instant: datetime) -> datetime:
        return self.timer_until(instant).result()

    def await_signal(self, ms: int) -> str:
        """The signal, or "Instant" when the timer wins."""
        won: Any = any_of(self.channel.receive(), self.timer(timedelta(milliseconds=ms))).result()
        return "Instant" if isinstance(won, datetime) else str(won)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


WORKFLOWS = [{"name": _name(TimerWorkflow), "class": _name(TimerWorkflowImpl), "concurrency": 4}]
