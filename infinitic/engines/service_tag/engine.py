"""Keyed by tag. Task executors add a task's id under each of its tags when its first attempt
starts and remove it when the task ends; clients ask for the ids of a tag.

Delegated tasks (keyed by task id): the executor sends the ExecuteTask of a `@delegated` method
once it returned, `client.complete_delegated_task` sends a TaskCompleted; whichever comes first
is kept until the other arrives, then the result goes where the task's reply goes."""

from __future__ import annotations

import time

from ...common import messages as m
from ...common import workflow_messages as w
from ...common.ids import new_id
from ...storage.base import Storage
from ...transport.base import Topics, Transport, decode_or_dead_letter


def service_tag_key(service_name: str, tag: str) -> str:
    return f"task.tag:{service_name}:{tag}"


def delegated_key(service_name: str, task_id: str) -> str:
    return f"task.delegated:{service_name}:{task_id}"


# a result given for a task id no delegated task announced (yet) is kept this long
ORPHAN_RESULT_SECONDS = 7 * 24 * 3600.0


class ServiceTagEngine:
    """Keeps the task ids of each tag of one service, answers clients' queries by tag, and
    pairs a delegated task's ExecuteTask with its completion."""

    def __init__(self, transport: Transport, storage: Storage, service_name: str) -> None:
        self.transport = transport
        self.storage = storage
        self.service_name = service_name
        self.topic = Topics.service_tag(service_name)

    async def start(self) -> None:
        await self.transport.subscribe(self.topic, self.handle, keyed=True, concurrency=1)

    async def handle(self, payload: bytes) -> None:
        expected = (m.ExecuteTask, m.TaskCompleted, w.ServiceTagCommand)
        msg = await decode_or_dead_letter(
            self.transport, self.topic, payload, expected, "service tag"
        )
        if msg is None:
            return
        if isinstance(msg, (m.ExecuteTask, m.TaskCompleted)):
            await self._delegated(msg, payload)
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

    async def _delegated(self, msg: m.ExecuteTask | m.TaskCompleted, payload: bytes) -> None:
        key = delegated_key(self.service_name, msg.task_id)
        loaded = await self.storage.get(key)
        other = m.decode(loaded[0]) if loaded is not None else None
        if isinstance(msg, m.ExecuteTask) and isinstance(other, m.TaskCompleted):
            task, done = msg, other
        elif isinstance(msg, m.TaskCompleted) and isinstance(other, m.ExecuteTask):
            task, done = other, msg
        else:
            if other is None:  # the first of the two: kept for the other
                ttl = ORPHAN_RESULT_SECONDS if isinstance(msg, m.TaskCompleted) else None
                await self.storage.put(key, payload, 0, ttl_seconds=ttl)
            elif isinstance(msg, m.ExecuteTask) and loaded is not None:
                # a manual retry of the task: its result must name that retry (a copy of the
                # same attempt changes nothing)
                await self.storage.put(key, payload, loaded[1])
            return
        meta = m.reply_meta(task.meta, task.retry_sequence)
        reply = m.encode(
            m.TaskCompleted(
                new_id(),
                task.task_id,
                task.service_name,
                task.task_name,
                done.result,
                meta,
                task.reply_to,
                task.workflow_id,
                task.workflow_name,
                task.method_run_id,
                time.time(),
            )
        )
        if task.workflow_name and task.workflow_id:
            await self.transport.send(
                Topics.workflow_engine(task.workflow_name), reply, key=task.workflow_id
            )
        if task.reply_to:
            await self.transport.send(task.reply_to, reply)
        for tag in task.tags:
            await self.storage.remove_from_set(
                service_tag_key(self.service_name, tag), task.task_id
            )
        assert loaded is not None
        await self.storage.put(key, None, loaded[1])
