"""What `eventListener.class` names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the SDK is the `events` extra: imported when a listener is configured
    from cloudevents.core.v1.event import CloudEvent


class CloudEventListener(Protocol):
    """Instantiated without arguments by the worker; `on_events` gets batches of CloudEvents 1.0
    (the CNCF SDK's `cloudevents.core.v1.event.CloudEvent`), on a thread of the listener's own,
    never on the worker's event loop. An exception makes the worker retry the same batch."""

    def on_events(self, events: list[CloudEvent]) -> None: ...
