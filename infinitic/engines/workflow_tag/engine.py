"""Keyed by tag, so the commands of one tag are handled one at a time (custom ids stay unique)."""

from __future__ import annotations

import logging
import time

from ...common import messages as m
from ...common import workflow_messages as w
from ...common.ids import deterministic_id, new_id
from ...storage.base import Storage
from ...transport.base import Topics, Transport, decode_or_dead_letter

log = logging.getLogger("infinitic.engines.workflow_tag")


def tag_key(workflow_name: str, tag: str) -> str:
    return f"workflow.tag:{workflow_name}:{tag}"


class WorkflowTagEngine:
    """Keeps the workflow ids of each tag (and custom ids) of one workflow name, and forwards
    commands addressed to a tag to each workflow that carries it."""

    def __init__(
        self, transport: Transport, storage: Storage, workflow_name: str, *, concurrency: int = 1
    ) -> None:
        self.transport = transport
        self.storage = storage
        self.workflow_name = workflow_name
        self.concurrency = concurrency
        self.topic = Topics.workflow_tag(workflow_name)
        self.engine_topic = Topics.workflow_engine(workflow_name)

    async def start(self) -> None:
        await self.transport.subscribe(
            self.topic, self.handle, keyed=True, concurrency=self.concurrency
        )

    async def handle(self, payload: bytes) -> None:
        msg = await decode_or_dead_letter(self.transport, self.topic, payload, w.TagCommand, "tag")
        if msg is None:
            return
        key = tag_key(self.workflow_name, msg.tag)
        action = msg.action
        if action == "add" and msg.workflow_id:
            await self.storage.add_to_set(key, msg.workflow_id)
        elif action == "remove" and msg.workflow_id:
            await self.storage.remove_from_set(key, msg.workflow_id)
        elif action in ("signal", "cancel", "complete_timers", "dispatch"):
            for workflow_id in sorted(await self.storage.get_set(key)):
                command: object
                if action == "complete_timers":
                    command = w.CompleteMethodTimers(
                        new_id(), workflow_id, self.workflow_name, msg.channel or None, time.time()
                    )
                elif action == "dispatch":
                    # ids derived from the tag command: a redelivered one starts no second run
                    command = w.DispatchMethod(
                        deterministic_id(msg.message_id, workflow_id),
                        workflow_id,
                        self.workflow_name,
                        deterministic_id(msg.message_id, workflow_id, "run"),
                        msg.channel,
                        msg.signal,
                        emitted_at=time.time(),
                    )
                elif action == "signal":
                    # derived from the tag command: a redelivered one sends the same signals
                    command = w.SendSignal(
                        deterministic_id(msg.message_id, workflow_id),
                        workflow_id,
                        self.workflow_name,
                        msg.channel,
                        msg.signal,
                        time.time(),
                    )
                else:
                    command = w.CancelWorkflow(
                        new_id(),
                        workflow_id,
                        self.workflow_name,
                        f"canceled by tag {msg.tag}",
                        time.time(),
                    )
                await self.transport.send(self.engine_topic, m.encode(command), key=workflow_id)
        elif action == "ids" and msg.reply_to:
            ids = sorted(await self.storage.get_set(key))
            reply = w.TagIds(
                new_id(), self.workflow_name, msg.tag, ids, msg.message_id, time.time()
            )
            await self.transport.send(msg.reply_to, m.encode(reply))
        else:
            await self.transport.dead_letter(
                self.topic, payload, f"tag command {action!r} is incomplete"
            )
