"""The transport contract and the topic names shared by every transport (docs/topics.md)."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .._core.envelope import EnvelopeError
from ..common import messages as m

Handler = Callable[[bytes], Awaitable[None]]
T = TypeVar("T")

# queued messages of one key a transport hands to a RunHandler at once, at most, by default
MAX_COALESCED = 500


class RunHandler:
    """A keyed subscription's handler that can also take a run of messages of ONE key at once.

    A transport that finds several messages of one key queued in a lane may hand them to
    `many`, in order, as one delivery: all of them are acknowledged once it returned (and its
    sends are confirmed), all are delivered again if it raises. Any other transport, or a
    lone message, just calls the handler with one payload. The workflow engine applies such a
    run in one step (one state load, one save); see docs/topics.md, "Coalescing".
    """

    __slots__ = ("one", "many")

    def __init__(self, one: Handler, many: Callable[[list[bytes]], Awaitable[None]]) -> None:
        self.one = one
        self.many = many

    def __call__(self, payload: bytes) -> Awaitable[None]:
        return self.one(payload)


def run_handler(handler: Handler, keyed: bool) -> Callable[[list[bytes]], Awaitable[None]] | None:
    """What a subscription hands runs of one key to: `handler.many` when it takes them (a
    RunHandler on a keyed subscription), else None (one message at a time)."""
    return handler.many if keyed and isinstance(handler, RunHandler) else None


def take_queued(queue: asyncio.Queue[T], joins: Callable[[T], bool], most: int) -> list[T]:
    """Takes off the head of `queue` the items that `joins` accepts, in order, up to the first
    it does not (at most `most`): the rest of a run a lane's worker has just begun."""
    run: list[T] = []
    waiting = queue._queue  # type: ignore[attr-defined]  # its deque: peeked, never reordered
    while waiting and len(run) < most and joins(waiting[0]):
        run.append(queue.get_nowait())
    return run


class Topics:
    """Topic names by role; a transport may prefix them (Pulsar: tenant and namespace)."""

    @staticmethod
    def task_executor(service: str) -> str:
        return f"task-executor:{service}"

    @staticmethod
    def workflow_engine(workflow: str) -> str:
        return f"workflow-engine:{workflow}"

    @staticmethod
    def workflow_task_executor(workflow: str) -> str:
        return f"workflow-task-executor:{workflow}"

    @staticmethod
    def workflow_tag(workflow: str) -> str:
        return f"workflow-tag:{workflow}"

    @staticmethod
    def service_tag(service: str) -> str:
        return f"task-tag:{service}"

    @staticmethod
    def client_response(client: str) -> str:
        return f"response:{client}"


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be handled, kept with the reason."""

    topic: str
    payload: bytes
    reason: str


class Transport(abc.ABC):
    """Send bytes to topics; consume topics with handlers.

    Keyed subscriptions deliver the messages of one key one at a time, in order (Pulsar's
    key-shared); unkeyed ones spread messages over `concurrency` handlers (shared). A handler
    that returns acknowledges the message; one that raises gets it redelivered, up to
    `max_redeliveries`, then dead-lettered with the error as the reason. A `RunHandler` may
    be given several queued messages of one key at once (`RunHandler.many`).
    """

    # whether a workflow engine may run its workflow tasks on its own worker's executor, in
    # its step, rather than send them (WorkflowEngine.local_executor): only where a worker that
    # owns a workflow's engine key may as well run its workflow tasks
    workflow_tasks_in_process: bool = False
    # messages of a task executor's topic a worker handles at once per thread of the service:
    # those beyond its threads wait in process for a free one (their runtime timeout starts
    # when they start). More than one where taking messages ahead costs other workers nothing
    # (one process; or Pulsar, whose client takes `receiverQueueSize` ahead anyway): a thread
    # then finds its next call queued instead of waiting for the event loop to hand it one
    task_messages_per_thread: int = 1

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def send(
        self, topic: str, payload: bytes, *, key: str | None = None, delay: float = 0.0
    ) -> None:
        """Publishes `payload`; `delay` seconds > 0 delivers it later (timers, retries)."""

    @abc.abstractmethod
    async def subscribe(
        self, topic: str, handler: Handler, *, keyed: bool = False, concurrency: int = 1
    ) -> None:
        """Starts consuming `topic` with `handler`."""

    @abc.abstractmethod
    async def dead_letter(self, topic: str, payload: bytes, reason: str) -> None:
        """Moves a message that cannot be handled out of the way, with the reason."""


async def decode_or_dead_letter(
    transport: Transport,
    topic: str,
    payload: bytes,
    expected: type | tuple[type, ...],
    role: str,
) -> Any | None:
    """The message `payload` holds when it is one of `expected`; else None, once the payload
    was dead-lettered with the reason (undecodable, or unexpected on a `role` topic)."""
    try:
        msg = m.decode(payload)
    except EnvelopeError as exc:
        await transport.dead_letter(topic, payload, f"undecodable envelope: {exc}")
        return None
    if not isinstance(msg, expected):
        reason = f"unexpected {type(msg).__name__} on a {role} topic"
        await transport.dead_letter(topic, payload, reason)
        return None
    return msg
