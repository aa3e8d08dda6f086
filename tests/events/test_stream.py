"""On Pulsar, the event listener reads the events topic with a subscription of its own."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
from cloudevents.core.v1.event import CloudEvent

from infinitic import InfiniticWorker
from infinitic.events import stream
from tests.events import event_apps as apps
from tests.events.conftest import config, run_parent, until
from tests.events.test_events import EXPECTED


def listener_only(transport: Any, recorder: str, subscription: str) -> dict[str, Any]:
    """A worker that runs nothing but the listener (Infinitic's dedicated listener worker)."""
    entry = {"class": f"tests.events.event_apps.{recorder}", "subscriptionName": subscription}
    return {"name": f"listener-{subscription}", "transport": transport, "eventListener": entry}


def producer(transport: Any, recorder: str, subscription: str) -> dict[str, Any]:
    cfg = config(transport, "inMemory", recorder)
    cfg["eventListener"]["subscriptionName"] = subscription
    return cfg


def heard_everything(events: list[CloudEvent]) -> bool:
    seen = Counter(e.get_type() for e in events)
    return all(seen[t] >= n for t, n in EXPECTED.items())


def keys(events: list[CloudEvent]) -> set[tuple[str, str]]:
    return {(e.get_source(), e.get_id()) for e in events}


@pytest.fixture(autouse=True)
def _own_lists() -> None:
    apps.RecorderA.events = []
    apps.RecorderB.events = []


@pytest.mark.pulsar
def test_each_subscription_gets_every_event_and_one_name_shares_them(
    pulsar_transport: dict[str, Any],
) -> None:
    with (
        InfiniticWorker.from_config(producer(pulsar_transport, "RecorderA", "audit")) as worker,
        InfiniticWorker.from_config(listener_only(pulsar_transport, "RecorderB", "alerts")),
        InfiniticWorker.from_config(listener_only(pulsar_transport, "Recorder", "audit")),
    ):
        run_parent(worker)
        until(lambda: heard_everything(apps.RecorderB.events), "every event on `alerts`")
        until(
            lambda: heard_everything(apps.RecorderA.events + apps.Recorder.events),
            "every event on `audit`, between its two listeners",
        )
    alerts, shared = apps.RecorderB.events, apps.RecorderA.events + apps.Recorder.events
    assert keys(alerts) == keys(shared)  # the same stream, once per subscription name
    assert not keys(apps.RecorderA.events) & keys(apps.Recorder.events)  # shared, not copied
    assert {t: Counter(e.get_type() for e in alerts)[t] for t in EXPECTED} == EXPECTED


@pytest.mark.pulsar
def test_events_wait_for_a_listener_that_is_down(pulsar_transport: dict[str, Any]) -> None:
    """Published while the listener's process was down, read when it is back (at least once)."""
    with InfiniticWorker.from_config(listener_only(pulsar_transport, "RecorderB", "late")):
        pass  # its subscription exists from now on
    assert apps.RecorderB.events == []
    with InfiniticWorker.from_config(producer(pulsar_transport, "RecorderA", "own")) as worker:
        parent_id = run_parent(worker)
        until(lambda: heard_everything(apps.RecorderA.events), "the producer's own listener")
    with InfiniticWorker.from_config(listener_only(pulsar_transport, "RecorderB", "late")):
        until(lambda: heard_everything(apps.RecorderB.events), "the events kept for `late`")
    assert any(e.get_subject() == parent_id for e in apps.RecorderB.events)
    assert keys(apps.RecorderB.events) >= keys(apps.RecorderA.events)


def test_a_batch_is_read_back_as_the_events_written() -> None:
    from infinitic.events.pipeline import to_cloud_event

    record = ("infinitic.workflow.timerDispatched", "workflows/stateEngine/W%20x", "w1",
              "m1/dispatched", 1.5, "timer_dispatched", ("t1", 3.0, 1.5))  # fmt: skip
    written = [to_cloud_event("pulsar://h:6650/t/ns", record)]
    (read,) = stream.decode(stream.encode(written))
    assert read.get_attributes() == written[0].get_attributes()
    assert read.get_data() == {
        "timerId": "t1",
        "timerInstant": "1970-01-01T00:00:03+00:00",
        "emittedAt": "1970-01-01T00:00:01.500000+00:00",
    }


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"{not json", "not JSON"),
        (b'{"id": 1}', "not a JSON array of events but a dict"),
        (b"[1]", "event 0 is not a JSON object"),
        (orjson.dumps([{"specversion": "1.0", "id": "x", "type": "t"}]), "event 0: "),
    ],
)
def test_a_malformed_batch_says_what_is_wrong(payload: bytes, says: str) -> None:
    with pytest.raises(stream.MalformedBatch, match=says):
        stream.decode(payload)
