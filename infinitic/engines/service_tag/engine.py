"""Keyed by tag. Task executors add a task's id under each of its tags when its first attempt
starts and remove it when the task ends; clients ask for the ids of a tag."""

from __future__ import annotations

import time

from ..._core.envelope import EnvelopeError
from ...common import messages as m
from ...common import workflow_messages as w
from ...common.ids import new_id
from ...storage.base import Storage
from ...transport.base import Topics, Transport


def service_tag_key(service_name: str, tag: str) -> str:
    return f"task.tag:{service_name}:{tag}"


class ServiceTagEngine:
    def __init__(self, transport: Transport, storage: Storage, service_name: str) -> None:
        self.transport = transport
        self.storage = storage
        self.service_name = service_name
        self.topic = Topics.service_tag(service_name)

    async def start(self) -> None:
        await self.transport.subscribe(self.topic, self.handle, keyed=True, concurrency=1)

    async def handle(self, payload: bytes) -> None:
        try:
            msg = m.decode(payload)
        except EnvelopeError as exc:
            await self.transport.dead_letter(self.topic, payload, f"undecodable envelope: {exc}")
            return
        if not isinstance(msg, w.ServiceTagCommand):
            reason = f"unexpected {type(msg).__name__} on a service tag topic"
            await self.transport.dead_letter(self.topic, payload, reason)
            return
        key = service_tag_key(self.service_name, msg.tag)
        if msg.action == "add" and msg.task_id:
            await self.storage.add_to_set(key, msg.task_id)
        elif msg.action == "remove" and msg.task_id:
            await self.storage.remove_from_set(key, msg.task_id)
        elif msg.action == "ids" and msg.reply_to:
            ids = sorted(await self.storage.get_set(key))
            reply = w.TagIds(new_id(), self.service_name, msg.tag, ids, msg.message_id, time.time())
            await self.transport.send(msg.reply_to, m.encode(reply))
        else:
            reason = f"service tag command {msg.action!r} is incomplete"
            await self.transport.dead_letter(self.topic, payload, reason)
