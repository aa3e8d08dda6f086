"""The context of one step of the pure engine: what it reads beside the state and what it leaves.

It reads the clock (`now`) and the state's readiness index (`index`, waiting.py: kept by the
engine with the state it caches, new for a state read from storage). It leaves what to send
(`sends`: saved with the state in the same compare-and-set, and sent by the engine once that
save succeeded, engine.py), the storage sets to change (`set_ops`) and which stored segments of
the state changed (`dirty`, stored.py), so the save writes only those.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ...common import messages as m
from ...common import workflow_messages as w
from ...common.ids import new_id
from ...transport.base import Topics
from .stored import Dirty
from .waiting import StateIndex


@dataclass(slots=True)
class Outgoing:
    topic: str
    message: Any  # None: the workflow task the saved state runs (built from it when sent)
    key: str | None = None
    delay: float = 0.0
    # a workflow task this step ran in process (engine.py, local_executor): shown to the taps
    # as dispatched, neither saved nor sent
    here: bool = False


@dataclass(slots=True)
class StepContext:
    """What one step reads beside the state (the clock, the state's readiness index) and what
    it leaves (messages to send, storage set changes, changed segments)."""

    now: float = field(default_factory=time.time)
    sends: list[Outgoing] = field(default_factory=list)
    # (add|remove, set, member), or (tombstone, key, "") once an instance ended
    set_ops: list[tuple[str, str, str]] = field(default_factory=list)
    index: StateIndex = field(default_factory=StateIndex)
    dirty: Dirty = field(default_factory=Dirty)
    # a later message of the same step was applied before the taps saw the saved state: what
    # changed the statuses is theirs to tell (coalesce.py, and a workflow task run in the step)
    later: bool = False

    # -- the state -------------------------------------------------------------------------

    def find_command(self, run: w.MethodRun, command_id: str) -> w.Command | None:
        return self.index.find_command(run, command_id)

    def outcome(self, command: w.Command) -> None:
        """`command` got (part of) its outcome."""
        found = self.index.outcome(command)
        if found is None:
            # not looked up through the index: which segment changed is not known
            self.dirty.everything()
        else:
            self.dirty.command(found[0].method_run_id, found[1])

    def extended(self, run: w.MethodRun, commands_from: int, steps_from: int) -> None:
        """`run` got commands from index `commands_from` and steps from `steps_from` on."""
        self.dirty.extended(run, commands_from, steps_from)

    def state_changed(self) -> None:
        """The state may have changed in other ways than outcomes and new commands and steps:
        the index starts again, and the whole state is to be written."""
        self.index = StateIndex()
        self.dirty.everything()

    # -- effects ---------------------------------------------------------------------------

    def send(self, topic: str, message: Any, key: str | None = None, delay: float = 0.0) -> None:
        self.sends.append(Outgoing(topic, message, key, max(0.0, delay)))

    def workflow_task(self, workflow_name: str, workflow_id: str) -> None:
        """The state's running workflow task: saved as a mark, not a copy of its history (a
        long run's history is in the state already), and built from the state when sent."""
        self.sends.append(Outgoing(Topics.workflow_task_executor(workflow_name), None, workflow_id))

    def saved(self) -> list[w.OutboxItem]:
        """The items as the outbox record saved with the state."""
        return [
            w.OutboxItem(
                item.topic,
                b"" if item.message is None else m.encode(item.message),
                item.key,
                self.now + item.delay if item.delay > 0 else 0.0,
            )
            for item in self.sends
            if not item.here
        ]

    def to_engine(
        self, workflow_name: str, workflow_id: str, message: Any, delay: float = 0.0
    ) -> None:
        self.send(Topics.workflow_engine(workflow_name), message, workflow_id, delay)

    def to_tag_engine(self, workflow_name: str, tag: str, message: w.TagCommand) -> None:
        self.send(Topics.workflow_tag(workflow_name), message, tag)

    def method_outcome(
        self,
        state: w.WorkflowState,
        run: w.MethodRun,
        status: w.OutcomeStatus,
        result: bytes = b"",
        error: m.ErrorInfo | None = None,
    ) -> None:
        """Tells the run's waiting clients and its parent how it ended."""

        def outcome(to_parent: bool = False) -> w.MethodOutcome:  # each message its own id
            parent = (
                (run.parent_workflow_id, run.parent_workflow_name, run.parent_method_run_id)
                if to_parent
                else (None, None, None)
            )
            return w.MethodOutcome(
                new_id(),
                state.workflow_id,
                state.workflow_name,
                run.method_run_id,
                run.method_name,
                status,
                result,
                error,
                *parent,
                emitted_at=self.now,
            )

        for client in run.waiting_clients:
            self.send(client, outcome())
        run.waiting_clients = []
        if run.parent_workflow_id and run.parent_workflow_name:
            self.to_engine(
                run.parent_workflow_name,
                run.parent_workflow_id,
                outcome(to_parent=True),
            )
