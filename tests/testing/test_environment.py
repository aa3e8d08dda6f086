"""WorkflowEnvironment: virtual time seen by workflows, idle waits, unittest use, and its limits."""

from __future__ import annotations

import asyncio
import time
import unittest
import uuid
from abc import abstractmethod
from datetime import datetime, timedelta, timezone

import pytest

from infinitic import CanceledError, Channel, TimeoutError, Workflow, WorkflowUpdatedError, name
from infinitic.common import clock
from infinitic.executors import workflow_task
from infinitic.testing import WorkflowEnvironment, replay
from tests.testing.saga import TravelServiceImpl, TripSaga, TripSagaImpl

START = datetime(2030, 3, 1, 12, 0, tzinfo=timezone.utc)


@name("Stamps")
class Stamps(Workflow):
    go = Channel[str]()

    @abstractmethod
    def stamp(self) -> list[str]: ...
    @abstractmethod
    def wait_for_go(self) -> str: ...


class StampsImpl(Stamps):
    def __init__(self) -> None:
        self.origin = self.workflow_id  # the context is readable here, on replay() too

    def stamp(self) -> list[str]:
        first = [self.now().isoformat(), str(self.random()), str(self.uuid4())]
        self.timer(timedelta(days=30)).result()
        # the run is replayed (or kept alive and checked against a replay): same values
        again = [self.now().isoformat(), str(self.random()), str(self.uuid4())]
        return first + again

    def wait_for_go(self) -> str:
        return self.go.receive().result()


def test_now_random_and_uuid4_are_recorded_and_follow_the_virtual_clock() -> None:
    with WorkflowEnvironment(workflows=[StampsImpl], start=START) as env:
        handle = env.client.dispatch(env.client.new_workflow(Stamps).stamp)
        values = handle.result()
        assert values[0] == START.isoformat()
        assert values[3] == (START + timedelta(days=30)).isoformat()
        assert 0 <= float(values[1]) < 1 and values[1] != values[4]
        assert uuid.UUID(values[2]).version == 4 and values[2] != values[5]
        history = env.history(Stamps, handle.id)
    targets = [c["target"] for c in history["method_runs"][0]["commands"]]
    assert targets == ["now", "random", "uuid4", "timer", "now", "random", "uuid4"]
    assert history["method_runs"][0]["commands"][0]["result"] == START.isoformat()
    replay(StampsImpl, history)


def test_a_swapped_helper_is_a_change_replay_sees() -> None:
    class Swapped(Stamps):
        def stamp(self) -> list[str]:
            first = [str(self.random()), self.now().isoformat(), str(self.uuid4())]
            return first

    with WorkflowEnvironment(workflows=[StampsImpl], start=START) as env:
        handle = env.client.dispatch(env.client.new_workflow(Stamps).stamp)
        handle.result()
        history = env.history(Stamps, handle.id)
    with pytest.raises(WorkflowUpdatedError, match="at position 0 of method stamp"):
        replay(Swapped, history)


def test_waiting_for_a_signal_nobody_sends_times_out_in_real_time() -> None:
    with WorkflowEnvironment(workflows=[StampsImpl], timeout=0.2) as env:
        handle = env.client.dispatch(env.client.new_workflow(Stamps).wait_for_go)
        with pytest.raises(TimeoutError, match="nothing left to run or to skip to"):
            handle.result()
        env.client.get_workflow_by_id(Stamps, handle.id).go.send("now")
        assert handle.result() == "now"


def test_the_engine_clock_and_strict_live_runs_are_restored_on_close() -> None:
    verify = workflow_task.VERIFY_LIVE
    with WorkflowEnvironment(workflows=[StampsImpl], start=START) as env:
        assert clock.now() == START.timestamp()
        assert workflow_task.VERIFY_LIVE is True
        env.sleep(timedelta(hours=2))
        assert env.now() == START + timedelta(hours=2)
        with pytest.raises(RuntimeError, match="another WorkflowEnvironment is open"):
            WorkflowEnvironment().start()
    assert abs(clock.now() - time.time()) < 60
    assert workflow_task.VERIFY_LIVE is verify


def test_a_start_that_fails_leaves_nothing_open() -> None:
    from infinitic import ConfigError

    with pytest.raises(ConfigError, match="checkMode"):
        WorkflowEnvironment(workflows=[StampsImpl], check_mode="paranoid").start()
    assert abs(clock.now() - time.time()) < 60
    with WorkflowEnvironment(workflows=[StampsImpl], start=START) as env:
        assert env.now() == START


def test_the_public_names_of_infinitic_testing() -> None:
    import infinitic.testing

    assert set(infinitic.testing.__all__) == {
        "WorkflowEnvironment",
        "fetch_history",
        "replay",
        "replay_all",
    }


def test_classes_must_be_importable_and_start_aware() -> None:
    class Local(Stamps):
        pass

    with pytest.raises(TypeError, match="define them at the top level of a module"):
        WorkflowEnvironment(workflows=[Local])
    with pytest.raises(ValueError, match="aware datetime"):
        WorkflowEnvironment(start=datetime(2030, 1, 1))


class TripSagaUnitTest(unittest.TestCase):
    """The same environment from unittest: start in setUp, close in tearDown."""

    def setUp(self) -> None:
        self.env = WorkflowEnvironment(services=[TravelServiceImpl], workflows=[TripSagaImpl])
        self.env.start()
        self.addCleanup(self.env.close)

    def test_a_cancel_right_after_dispatch_ends_the_saga(self) -> None:
        handle = self.env.client.dispatch(self.env.client.new_workflow(TripSaga).book, "riga")
        stub = self.env.client.get_workflow_by_id(TripSaga, handle.id)
        self.env.client.cancel(stub)
        with self.assertRaises(CanceledError):
            handle.result()

    def test_wait_skips_to_the_deadline(self) -> None:
        handle = self.env.client.dispatch(self.env.client.new_workflow(TripSaga).book, "doha")
        stub = self.env.client.get_workflow_by_id(TripSaga, handle.id)
        self.assertEqual(self.env.client.wait(stub), "canceled flight-doha, canceled hotel-doha")


def test_the_sample_workflows_run_with_default_retries_skipped() -> None:
    from tests.sample_workflows import BasicWorkflow, BasicWorkflowImpl, MathServiceImpl

    with WorkflowEnvironment(services=[MathServiceImpl], workflows=[BasicWorkflowImpl]) as env:
        wf = env.client.new_workflow(BasicWorkflow)
        assert wf.parallel(3) == [0, 2, 4]
        assert wf.children(3) == [0, 0, 1]
        assert wf.nested() == [2, [4, 6]]
        before = env.now()
        # 11 retries with the default backoff (1 s doubling up to 1000 s): many virtual minutes
        assert wf.catching() == "caught ValueError: expected"
        assert env.now() - before > timedelta(minutes=10)
        assert wf.with_timer(3600) == "fired True"


def test_awaited_wait_and_ids_skip_virtual_time_too() -> None:
    """`wait_async` and `get_ids_by_tag_async` in a test's own asyncio code: the 30-day timer
    is skipped as for `wait`, and a tagged instance is listed right after its dispatch."""
    with WorkflowEnvironment(workflows=[StampsImpl]) as env:
        handle = env.client.dispatch(env.client.new_workflow(Stamps, tags={"t"}).stamp)
        stub = env.client.get_workflow_by_id(Stamps, handle.id)

        async def main() -> tuple[list[str], list[str]]:
            ids = await env.client.get_ids_by_tag_async(Stamps, "t")
            return ids, await env.client.wait_async(stub)

        ids, stamps = asyncio.run(main())
        assert ids == [handle.id]
        assert datetime.fromisoformat(stamps[3]) - datetime.fromisoformat(stamps[0]) >= timedelta(
            days=30
        )
