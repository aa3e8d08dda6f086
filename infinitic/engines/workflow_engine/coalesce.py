"""Several queued messages of one workflow applied in one step: one load, one save, one outbox.

A transport that finds a run of one key's messages queued hands them over at once
(transport.base.RunHandler); a fan-out's thousands of results then cost a few saves instead of
one each. Only outcomes join a run (task and child results, timers, deadlines, signals): each
is applied with its own StepContext, so the taps, the events and the progress log see what
that message did, and the step ends with the first message that sends something, changes a
set, or changes the instance's or a method run's status. What follows it starts the next step,
on the state that step saved. The listeners (taps) of every message of a step are called once
it is saved, with the state it saved: it differs from the state right after an earlier message
only by the outcomes the later ones recorded, which no listener of that message reads, so the
events are those of one step per message. Anything else (a start, a method dispatch, a
workflow task's result, a client's command, ConfirmStart) is a step of its own, in order.
"""

from __future__ import annotations

from typing import Any

from ...common import workflow_messages as w
from .context import StepContext
from .process import OUTCOMES
from .waiting import StateIndex

# the messages a step may take several of
COALESCED = OUTCOMES


def _statuses(state: w.WorkflowState | None) -> tuple[str, ...]:
    return tuple(run.status for run in state.method_runs) if state is not None else ()


class Steps:
    """The messages one step applied so far, each with its context and the status before."""

    __slots__ = ("index", "done", "_status", "_runs")

    def __init__(self, state: w.WorkflowState | None, index: StateIndex) -> None:
        self.index = index
        self.done: list[tuple[Any, StepContext, str | None]] = []
        self._status = state.status if state is not None else None
        self._runs = _statuses(state)

    def add(self, msg: Any, state: w.WorkflowState | None, out: StepContext) -> bool:
        """Records that `msg` was applied, leaving `state` and `out`; whether the next message
        may join this step (else the step is saved, and the next one applied on what it saved)."""
        self.done.append((msg, out, self._status))
        self.index = out.index
        return (
            state is not None
            and type(msg) in COALESCED
            and not out.sends
            and not out.set_ops
            and state.status == self._status
            and _statuses(state) == self._runs
        )

    def merged(self, now: float) -> StepContext:
        """What the step saves and sends: every message's effects, in order."""
        if len(self.done) == 1:
            return self.done[0][1]
        merged = StepContext(now=now, index=self.index)
        for _, out, _ in self.done:
            merged.sends.extend(out.sends)
            merged.set_ops.extend(out.set_ops)
            if out.dirty.slots is None:
                merged.dirty.everything()
            elif merged.dirty.slots is not None:
                merged.dirty.slots |= out.dirty.slots
        return merged
