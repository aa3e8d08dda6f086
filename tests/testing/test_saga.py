"""The docs/testing.md example: a 7-day saga tested in milliseconds of real time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infinitic.testing import WorkflowEnvironment
from tests.testing.saga import TravelServiceImpl, TripSaga, TripSagaImpl


@pytest.fixture
def env():  # type: ignore[no-untyped-def]
    with WorkflowEnvironment(services=[TravelServiceImpl], workflows=[TripSagaImpl]) as env:
        yield env


def test_unconfirmed_trip_is_canceled_after_seven_days(env: WorkflowEnvironment) -> None:
    start = env.now()
    saga = env.client.new_workflow(TripSaga)
    assert saga.book("rome") == "canceled flight-rome, canceled hotel-rome"
    assert env.now() - start == timedelta(days=7)  # virtual time: the timer was skipped to


def test_confirmation_right_after_dispatch_charges(env: WorkflowEnvironment) -> None:
    start = env.now()
    handle = env.client.dispatch(env.client.new_workflow(TripSaga).book, "oslo")
    # no sleep: the dispatch returned once the saga was waiting for its confirmation
    env.client.get_workflow_by_id(TripSaga, handle.id).confirmation.send(True)
    assert handle.result() == "receipt-oslo"
    assert env.now() == start  # nothing waited on time


def test_complete_timers_right_after_dispatch(env: WorkflowEnvironment) -> None:
    start = env.now()
    handle = env.client.dispatch(env.client.new_workflow(TripSaga).book, "nice")
    env.client.complete_timers(env.client.get_workflow_by_id(TripSaga, handle.id))
    assert handle.result() == "canceled flight-nice, canceled hotel-nice"
    assert env.now() == start


def test_sleep_fires_the_timer_when_it_is_due(env: WorkflowEnvironment) -> None:
    handle = env.client.dispatch(env.client.new_workflow(TripSaga).book, "lima")
    stub = env.client.get_workflow_by_id(TripSaga, handle.id)
    env.sleep(timedelta(days=6, hours=23))
    assert not handle.done()
    stub.confirmation.send(True)  # still in time
    assert handle.result() == "receipt-lima"
    env.sleep(timedelta(days=1))  # the timer fires into an ended method run: nothing happens
    assert handle.result() == "receipt-lima"


def test_signal_after_the_deadline_is_too_late(env: WorkflowEnvironment) -> None:
    handle = env.client.dispatch(env.client.new_workflow(TripSaga).book, "kiev")
    env.sleep(timedelta(days=7))
    assert handle.done()
    assert handle.result() == "canceled flight-kiev, canceled hotel-kiev"


def test_task_retries_wait_virtual_time(env: WorkflowEnvironment) -> None:
    TravelServiceImpl.payment_failures = 2
    try:
        start = env.now()
        handle = env.client.dispatch(env.client.new_workflow(TripSaga).book, "bern")
        env.client.get_workflow_by_id(TripSaga, handle.id).confirmation.send(True)
        assert handle.result() == "receipt-bern"
        # two retries an hour apart then two (random_factor=0): the provider came back
        assert env.now() - start == timedelta(hours=3)
    finally:
        TravelServiceImpl.payment_failures = 0


def test_strict_check_mode_replays_a_timer_created_days_earlier() -> None:
    # the timer's arguments were its due time, so a replay in a later workflow task (another
    # emitted_at) failed strict mode with "the arguments of timer changed"
    with WorkflowEnvironment(
        services=[TravelServiceImpl], workflows=[TripSagaImpl], check_mode="strict"
    ) as env:
        assert env.client.new_workflow(TripSaga).book("rome") == (
            "canceled flight-rome, canceled hotel-rome"
        )


def test_awaiting_a_handle_skips_time_too(env: WorkflowEnvironment) -> None:
    import asyncio

    async def main() -> str:
        handle = env.client.dispatch(env.client.new_workflow(TripSaga).book, "baku")
        return await handle

    start = env.now()
    assert asyncio.run(main()) == "canceled flight-baku, canceled hotel-baku"
    assert env.now() - start == timedelta(days=7)


def test_docs_show_this_code() -> None:
    """docs/testing.md quotes the saga and these tests: it must quote them as they are."""
    import re
    from pathlib import Path

    here = Path(__file__).parent
    docs = (here.parent.parent / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", docs, flags=re.S)
    saga, tests = (here / "saga.py").read_text(), Path(__file__).read_text()
    assert blocks[0] in saga and "class TripSagaImpl" in blocks[0]
    assert blocks[1] in tests and "def test_unconfirmed_trip" in blocks[1]
    assert any(b in saga for b in blocks[2:] if "TripSagaWithDeposit" in b)
