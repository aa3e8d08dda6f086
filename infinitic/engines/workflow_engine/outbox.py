"""What a message's handling sends: collected during the pure step, saved with the state in the
same compare-and-set, and sent by the engine once that save succeeded (engine.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ...common import messages as m
from ...common import workflow_messages as w
from ...common.ids import new_id
from ...transport.base import Topics


@dataclass(slots=True)
class Outgoing:
    topic: str
    message: Any  # None: the workflow task the saved state runs (built from it when sent)
    key: str | None = None
    delay: float = 0.0


@dataclass
class Outbox:
    """The effects of one step, plus the context the handlers need (clock, settings)."""

    now: float = field(default_factory=time.time)
    items: list[Outgoing] = field(default_factory=list)
    storage_ops: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # (add|remove, set, member), or (tombstone, key, "") once an instance ended

    def send(self, topic: str, message: Any, key: str | None = None, delay: float = 0.0) -> None:
        self.items.append(Outgoing(topic, message, key, max(0.0, delay)))

    def workflow_task(self, workflow_name: str, workflow_id: str) -> None:
        """The state's running workflow task: saved as a mark, not a copy of its history (a
        long run's history is in the state already), and built from the state when sent."""
        self.items.append(Outgoing(Topics.workflow_task_executor(workflow_name), None, workflow_id))

    def saved(self) -> list[w.OutboxItem]:
        """The items as the outbox record saved with the state."""
        return [
            w.OutboxItem(
                item.topic,
                b"" if item.message is None else m.encode(item.message),
                item.key,
                self.now + item.delay if item.delay > 0 else 0.0,
            )
            for item in self.items
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
        status: str,
        result: bytes = b"",
        error: m.ErrorInfo | None = None,
    ) -> None:
        """Tells the run's waiting clients and its parent how it ended."""
        for client in run.waiting_clients:
            self.send(
                client,
                w.MethodOutcome(
                    new_id(),
                    state.workflow_id,
                    state.workflow_name,
                    run.method_run_id,
                    run.method_name,
                    status,
                    result,
                    error,
                    emitted_at=self.now,
                ),
            )
        run.waiting_clients = []
        if run.parent_workflow_id and run.parent_workflow_name:
            self.to_engine(
                run.parent_workflow_name,
                run.parent_workflow_id,
                w.MethodOutcome(
                    new_id(),
                    state.workflow_id,
                    state.workflow_name,
                    run.method_run_id,
                    run.method_name,
                    status,
                    result,
                    error,
                    run.parent_workflow_id,
                    run.parent_workflow_name,
                    run.parent_method_run_id,
                    emitted_at=self.now,
                ),
            )
