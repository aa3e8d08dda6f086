"""Events through the broker: the event listener's own subscription, on Pulsar.

On Pulsar, a worker with an `eventListener` publishes the events of what it runs to the
namespace's `events` topic, a batch (up to `pipeline.BATCH` events, in the CloudEvents JSON batch
format) per message, and consumes that topic with a subscription of the listener's own,
`eventListener.subscriptionName` (shared): listeners with the same name share the stream, each
event reaching one of them; a listener with another name gets every event. A batch is
acknowledged once `on_events` returned, so a listener that stops (or is restarted) takes up
where its subscription was: delivery is at least once, and the CloudEvent `id` (with `source`)
lets a listener drop a copy. The listener's `services`/`workflows` filters apply when
consuming: the producers publish everything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import unquote

import orjson
from cloudevents.core.v1.event import CloudEvent

from ..config.observability import EventListenerConfig

log = logging.getLogger("infinitic.events")

TOPIC = "events"


class MalformedBatch(ValueError):
    """A message of the events topic that is not a batch of CloudEvents 1.0."""


def encode(events: list[CloudEvent]) -> bytes:
    """A batch in the CloudEvents JSON batch format (a JSON array of structured events)."""
    out = []
    for event in events:
        item = dict(event.get_attributes())
        time = item.get("time")
        if isinstance(time, datetime):
            item["time"] = time.isoformat().replace("+00:00", "Z")
        item["data"] = event.get_data()
        out.append(item)
    return orjson.dumps(out)


def decode(payload: bytes) -> list[CloudEvent]:
    """The events of a batch, checked by the SDK; raises MalformedBatch saying what is wrong."""
    try:
        items = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedBatch(f"not JSON: {exc}") from None
    if not isinstance(items, list):
        raise MalformedBatch(f"not a JSON array of events but a {type(items).__name__}")
    events = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedBatch(f"event {i} is not a JSON object")
        attributes = {k: v for k, v in item.items() if k != "data"}
        try:
            if isinstance(attributes.get("time"), str):
                attributes["time"] = datetime.fromisoformat(attributes["time"])
            events.append(CloudEvent(attributes, item.get("data")))
        except Exception as exc:  # noqa: BLE001 - the SDK's validation errors, bad times
            raise MalformedBatch(f"event {i}: {type(exc).__name__}: {exc}") from None
    return events


def heard_by(config: EventListenerConfig | None, event: CloudEvent) -> bool:
    """Whether the listener's `services`/`workflows` filters let `event` through (its source
    ends with `services/executor/{name}` or `workflows/stateEngine/{name}`)."""
    if config is None:
        return True
    kind, _, name = event.get_source().rsplit("/", 3)[-3:]
    chosen = config.services if kind == "services" else config.workflows
    return chosen.includes(unquote(name))


class Consumer:
    """Hands the batches of the events topic to the listener, on the pipeline's threads; a
    batch is acknowledged (the handler returns) once `on_events` took it."""

    def __init__(
        self,
        deliver: Callable[[list[CloudEvent]], Awaitable[bool]],
        config: EventListenerConfig | None,
        dead_letter: Callable[[str, bytes, str], Awaitable[None]],
    ) -> None:
        self._deliver = deliver
        self._config = config
        self._dead_letter = dead_letter
        self.closed = threading.Event()

    async def handle(self, payload: bytes) -> None:
        try:
            events = decode(payload)
        except MalformedBatch as exc:
            # nothing is lost: the message is kept, with the reason, on the dead-letter topic
            await self._dead_letter(TOPIC, payload, f"malformed events batch: {exc}")
            return
        heard = [e for e in events if heard_by(self._config, e)]
        if heard and not await self._deliver(heard):
            # the worker closes before the listener took them: redelivered to the next one
            raise ConnectionAbortedError("worker closing: events batch left for redelivery")
