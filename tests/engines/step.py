"""One step of the pure workflow engine, seen from outside: (state, message) in, (new state,
messages sent, storage set operations) out. The only place the tests of tests/engines/ touch
the engine's step context, so a change of its shape is adapted here once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infinitic.common import workflow_messages as w
from infinitic.engines.workflow_engine.context import StepContext
from infinitic.engines.workflow_engine.process import process

NOW = 1_767_600_000.0  # a fixed clock: the engine reads no other


@dataclass
class Sent:
    topic: str
    message: Any  # None: the workflow task of the saved state (built from it when sent)
    key: str | None
    delay: float


@dataclass
class Step:
    state: w.WorkflowState | None
    sent: list[Sent] = field(default_factory=list)
    set_ops: list[tuple[str, str, str]] = field(default_factory=list)

    def to(self, topic: str) -> list[Any]:
        """The messages sent to `topic`, in order."""
        return [s.message for s in self.sent if s.topic == topic]

    def of_type(self, cls: type) -> list[Any]:
        return [s.message for s in self.sent if type(s.message) is cls]


def step(state: w.WorkflowState | None, msg: Any, now: float = NOW) -> Step:
    out = StepContext(now=now)
    new = process(state, msg, out)
    sent = [Sent(item.topic, item.message, item.key, item.delay) for item in out.sends]
    return Step(new, sent, list(out.set_ops))
