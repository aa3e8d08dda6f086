"""Catalog §D (ChannelWorkflowTests): signals sent to channels."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from infinitic import InfiniticClient
from tests.scenarios.conftest import Later
from tests.scenarios.shared import ChannelsWorkflow, Obj1, Obj2

CRITERIA = (
    "Jayway JsonPath's Criteria API (`[?]` placeholders with where(...) criteria) has no Python "
    "counterpart: a filter here is data, a mapping of dotted paths to values evaluated by the "
    "engine (DESIGN §3), which the JSONPath-only variant of this scenario covers"
)


@pytest.fixture
def channels(client: InfiniticClient) -> ChannelsWorkflow:
    return client.new_workflow(ChannelsWorkflow, tags={"foo", "bar"})


def _start(
    client: InfiniticClient, method: Callable[..., Any], *args: Any
) -> tuple[Any, ChannelsWorkflow]:
    handle = client.dispatch(method, *args)
    return handle, client.get_workflow_by_id(ChannelsWorkflow, handle.id)


def _when_waiting(later: Later, handle: Any, *sends: Callable[[], None]) -> None:
    def send_all() -> None:
        for send in sends:
            send()

    later.when_waiting(handle.id, send_all)


def test_signal_sent_after_dispatch(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D1: a signal sent after the dispatch (Infinitic sends it 100 ms later; here, once the
    instance waits on its receive: an event rather than a guess)."""
    handle, stub = _start(client, channels.channel1)
    later.when_waiting(handle.id, lambda: stub.channel_str_a.send("test"))
    assert handle.result(timeout=30) == "test"


def test_signal_sent_by_id(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D2: a signal sent through a stub from get_workflow_by_id, once the receive waits."""
    handle = client.dispatch(channels.channel1)
    by_id = client.get_workflow_by_id(ChannelsWorkflow, handle.id)
    later.when_waiting(handle.id, lambda: by_id.channel_str_a.send("test"))
    assert handle.result(timeout=30) == "test"


def test_signal_sent_by_tag(client: InfiniticClient, later: Later) -> None:
    """D3: a signal sent through a stub from get_workflow_by_tag."""
    tag = f"foo-{uuid.uuid4().hex[:8]}"
    handle = client.dispatch(client.new_workflow(ChannelsWorkflow, tags={tag}).channel1)
    by_tag = client.get_workflow_by_tag(ChannelsWorkflow, tag)
    later.when_waiting(handle.id, lambda: by_tag.channel_str_a.send("test"))
    assert handle.result(timeout=30) == "test"


def test_signal_on_the_right_channel(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D4: a receive racing a 1 s timer gets the signal."""
    handle, stub = _start(client, channels.channel2)
    later.when_waiting(handle.id, lambda: stub.channel_str_a.send("test"))
    assert handle.result(timeout=30) == "test"


def test_signal_on_the_wrong_channel(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D5: a signal to another channel leaves the timer to win."""
    handle, stub = _start(client, channels.channel2)
    later.when_waiting(handle.id, lambda: stub.channel_str_b.send("test"))
    assert handle.result(timeout=30) == "Instant"


def test_signal_before_the_receive_is_discarded(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D6: a signal that arrives while no receive waits is discarded."""
    handle, stub = _start(client, channels.channel3)
    # sent while the workflow waits on its first timer, before any receive exists
    later.when_waiting(handle.id, lambda: stub.channel_str_a.send("test"))
    assert handle.result(timeout=30) == "Instant"


def test_object_signal(client: InfiniticClient, channels: ChannelsWorkflow, later: Later) -> None:
    """D7: an object sent on a channel declared with its base class comes back as itself."""
    handle, stub = _start(client, channels.channel4)
    later.when_waiting(handle.id, lambda: stub.channel_obj.send(Obj1("foo", 42)))
    assert handle.result(timeout=30) == Obj1("foo", 42)


def test_filtered_signal(client: InfiniticClient, channels: ChannelsWorkflow, later: Later) -> None:
    """D8: a receive with a filter takes only matching signals."""
    handle, stub = _start(client, channels.channel4bis)
    _when_waiting(
        later,
        handle,
        lambda: stub.channel_obj.send(Obj1("oof", 12)),
        lambda: stub.channel_obj.send(Obj1("foo", 12)),
    )
    assert handle.result(timeout=30) == Obj1("foo", 12)


@pytest.mark.skip(reason=f"D9: {CRITERIA}")
def test_filtered_signal_with_criteria() -> None:
    """D9: JSONPath with a `[?]` placeholder and Criteria."""


def test_signal_of_a_given_type(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D10: receive(type=Obj1) skips an Obj2 of the same shape."""
    handle, stub = _start(client, channels.channel5)
    _when_waiting(
        later,
        handle,
        lambda: stub.channel_obj.send(Obj2("foo", 42)),
        lambda: stub.channel_obj.send(Obj1("foo", 42)),
    )
    assert handle.result(timeout=30) == Obj1("foo", 42)


def test_signal_of_a_given_type_and_filter(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D11: a type and a filter together."""
    handle, stub = _start(client, channels.channel5bis)
    _when_waiting(
        later,
        handle,
        lambda: stub.channel_obj.send(Obj1("oof", 42)),
        lambda: stub.channel_obj.send(Obj2("foo", 42)),
        lambda: stub.channel_obj.send(Obj1("foo", 42)),
    )
    assert handle.result(timeout=30) == Obj1("foo", 42)


@pytest.mark.skip(reason=f"D12: {CRITERIA}")
def test_signal_of_a_given_type_with_criteria() -> None:
    """D12: a type, JSONPath with a `[?]` placeholder and Criteria."""


def test_two_typed_receives_in_wrong_order(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D13: two typed receives created before any await take their signals in any order."""
    handle, stub = _start(client, channels.channel6)
    _when_waiting(
        later,
        handle,
        lambda: stub.channel_obj.send(Obj2("bar", 7)),
        lambda: stub.channel_obj.send(Obj1("foo", 6)),
    )
    assert handle.result(timeout=30) == "foobar42"


def test_two_typed_filtered_receives_in_wrong_order(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D14: the same, each receive also filtered."""
    handle, stub = _start(client, channels.channel6bis)
    _when_waiting(
        later,
        handle,
        lambda: stub.channel_obj.send(Obj2("bar", 6)),
        lambda: stub.channel_obj.send(Obj1("foo", 5)),
        lambda: stub.channel_obj.send(Obj2("foo", 7)),
    )
    assert handle.result(timeout=30) == "foofoo35"


def _burst(later: Later, handle: Any, stub: ChannelsWorkflow, values: list[str]) -> None:
    _when_waiting(later, handle, *(lambda v=v: stub.channel_str_a.send(v) for v in values))


def test_many_signals_on_one_receive(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D15: a receive with no limit keeps every signal, in order, while the workflow works."""
    handle, stub = _start(client, channels.channel7, 3, None)
    _burst(later, handle, stub, ["a", "b", "c"])
    assert handle.result(timeout=30) == "abc"


def test_many_signals_on_one_receive_client_late(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D16: limit 3, the signals sent 300 ms apart (the timing is the scenario)."""
    handle, stub = _start(client, channels.channel7, 3, 3)

    def late() -> None:
        for value in ("a", "b", "c"):
            stub.channel_str_a.send(value)
            later.pause(300)

    later.when_waiting(handle.id, late)
    assert handle.result(timeout=30) == "abc"


def test_twenty_signals_on_one_receive(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D17: 20 signals on a receive with no limit."""
    handle, stub = _start(client, channels.channel7, 20, None)
    _burst(later, handle, stub, ["a"] * 20)
    assert handle.result(timeout=30) == "a" * 20


def test_more_awaits_than_the_limit_repeat_the_last(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D18: after its limit, a receive gives its last signal again (the 3rd is not taken)."""
    handle, stub = _start(client, channels.channel7, 3, 2)
    _burst(later, handle, stub, ["a", "b", "c"])
    assert handle.result(timeout=30) == "abb"


def test_more_awaits_than_the_limit_client_late(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D19: the same, the signals sent 100 ms apart."""
    handle, stub = _start(client, channels.channel7, 3, 2)

    def late() -> None:
        for value in ("a", "b", "c"):
            stub.channel_str_a.send(value)
            later.pause(100)

    later.when_waiting(handle.id, late)
    assert handle.result(timeout=30) == "abb"


def test_status_of_an_unlimited_receive(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """D20: completed once a signal arrived; after the await, it waits for the next one."""
    handle, stub = _start(client, channels.channel8)
    later.when_waiting(handle.id, lambda: stub.channel_str_a.send("test"))
    assert handle.result(timeout=30) == "falsetruefalse"


def test_repeated_any_of_with_an_uncompleted_receive(channels: ChannelsWorkflow) -> None:
    """D21: a timer winning any_of does not complete the receive (Infinitic #269)."""
    assert channels.channel9() == "ok"


def test_union_typed_channel(
    client: InfiniticClient, channels: ChannelsWorkflow, later: Later
) -> None:
    """Channel[Union[Obj1, Obj2]]: each value comes back as its own class; a typed receive on
    it takes only its type (DESIGN §5b)."""
    handle, stub = _start(client, channels.channel_union_types)
    _when_waiting(
        later,
        handle,
        lambda: stub.channel_union.send(Obj1("one", 1)),
        lambda: stub.channel_union.send(Obj2("two", 2)),
    )
    assert handle.result(timeout=30) == "Obj2:two Obj1:one"
