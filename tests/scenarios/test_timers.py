"""Catalog §G: timers (Infinitic's `TimerWorkflowTests`), on each home.

Timer results are UTC datetimes (Infinitic's `Instant`). Each test tags its instances with a tag
of its own next to Infinitic's `foo`, `bar`: the session's worker is shared by every test, and a
completion by tag must only reach this test's instance.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from infinitic import InfiniticClient
from infinitic.common.workflow_messages import WorkflowState
from tests.scenarios.areas.timers import TimerWorkflow
from tests.scenarios.conftest import Home, Later
from tests.workflow_probe import waits_on_timer

RESULT_TIMEOUT = 30


def _stub(client: InfiniticClient) -> tuple[TimerWorkflow, str]:
    own = f"timers-{uuid.uuid4().hex[:8]}"
    return client.new_workflow(TimerWorkflow, tags={"foo", "bar", own}), own


def test_wait_for_a_duration_timer(client: InfiniticClient) -> None:
    """G1 `Wait for a duration timer`: a 100 ms timer fires well within a second."""
    start = datetime.now(timezone.utc)
    fired = _stub(client)[0].await_duration(100)
    assert fired - start < timedelta(milliseconds=1000)


def test_wait_for_a_long_duration_timer(client: InfiniticClient) -> None:
    """G2 `Wait for a long duration timer`: a 1300 ms timer fires after more than a second."""
    start = datetime.now(timezone.utc)
    began = time.monotonic()
    fired = _stub(client)[0].await_duration(1300)
    assert fired - start > timedelta(milliseconds=1000)
    assert time.monotonic() - began > 1.0


def test_wait_for_an_instant_timer(client: InfiniticClient) -> None:
    """G3 `Wait for a instant timer`: a timer 200 ms ahead fires for that instant, within 2 s."""
    start = datetime.now(timezone.utc)
    instant = start + timedelta(milliseconds=200)
    fired = _stub(client)[0].await_instant(instant)
    assert fired == instant
    assert datetime.now(timezone.utc) - start < timedelta(milliseconds=2000)


def test_wait_for_a_long_instant_timer(client: InfiniticClient) -> None:
    """G4 `Wait for a long instant timer`: a timer 2 s ahead never fires early."""
    start = datetime.now(timezone.utc)
    instant = start + timedelta(milliseconds=2000)
    fired = _stub(client)[0].await_instant(instant)
    assert fired == instant
    assert datetime.now(timezone.utc) >= instant


def test_wait_for_a_signal_timer_wins(client: InfiniticClient) -> None:
    """G5 `Wait for a signal, timer wins`: no signal comes, the 200 ms timer wins."""
    assert _stub(client)[0].await_signal(200) == "Instant"


def test_wait_for_a_signal_signal_wins(client: InfiniticClient, later: Later) -> None:
    """G6 `Wait for a signal, signal wins`: a signal sent while a 6 s timer runs wins."""
    handle = client.dispatch(_stub(client)[0].await_signal, 6000)
    instance = client.get_workflow_by_id(TimerWorkflow, handle.id)
    later.when_waiting(handle.id, lambda: instance.channel.send("bingo"))
    assert handle.result(timeout=RESULT_TIMEOUT) == "bingo"


def _timer_ended(state: WorkflowState) -> bool:
    return any(
        cmd.kind == "timer" and cmd.status != "ongoing"
        for run in state.method_runs
        for cmd in run.commands
    )


def _complete_then_signal(
    home: Home,
    workflow_id: str,
    target: TimerWorkflow,
    method_run_id: str | None = None,
    completes: bool = True,
) -> threading.Thread:
    """Once the instance waits on its timer: complete timers through `target`, then (once the
    timer ended, when it `completes`) send a signal that comes too late to win."""
    client = home.client
    instance = client.get_workflow_by_id(TimerWorkflow, workflow_id)

    def act() -> None:
        home.wait_until(workflow_id, waits_on_timer)
        client.complete_timers(target, method_run_id=method_run_id)
        if completes:
            home.wait_until(workflow_id, _timer_ended)
        instance.channel.send("bingo")

    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    return thread


def test_timer_wins_after_manual_completion_by_id(home: Home) -> None:
    """G7 `Wait for a signal, timer wins after manual completion by id`."""
    client = home.client
    handle = client.dispatch(_stub(client)[0].await_signal, 3000)
    instance = client.get_workflow_by_id(TimerWorkflow, handle.id)
    acting = _complete_then_signal(home, handle.id, instance)
    assert handle.result(timeout=RESULT_TIMEOUT) == "Instant"
    acting.join(RESULT_TIMEOUT)


def test_timer_wins_after_manual_completion_by_tag(home: Home) -> None:
    """G8 `Wait for a signal, timer wins after manual completion by tag` (a 10 s timer)."""
    client = home.client
    stub, own = _stub(client)
    handle = client.dispatch(stub.await_signal, 10_000)
    acting = _complete_then_signal(home, handle.id, client.get_workflow_by_tag(TimerWorkflow, own))
    assert handle.result(timeout=RESULT_TIMEOUT) == "Instant"
    acting.join(RESULT_TIMEOUT)


def test_signal_wins_after_completion_with_wrong_method_run_id(home: Home) -> None:
    """G9 `... signal wins after manual timer completion with wrong methodRunId`: completing
    the timers of an unknown method run changes nothing."""
    client = home.client
    handle = client.dispatch(_stub(client)[0].await_signal, 3000)
    instance = client.get_workflow_by_id(TimerWorkflow, handle.id)
    acting = _complete_then_signal(home, handle.id, instance, "wrong", completes=False)
    assert handle.result(timeout=RESULT_TIMEOUT) == "bingo"
    acting.join(RESULT_TIMEOUT)


def test_timer_wins_after_completion_with_correct_method_run_id(home: Home) -> None:
    """G10 `... timer wins after manual completion with correct methodRunId`: the main method
    run's id is the workflow id."""
    client = home.client
    handle = client.dispatch(_stub(client)[0].await_signal, 3000)
    instance = client.get_workflow_by_id(TimerWorkflow, handle.id)
    acting = _complete_then_signal(home, handle.id, instance, method_run_id=handle.id)
    assert handle.result(timeout=RESULT_TIMEOUT) == "Instant"
    acting.join(RESULT_TIMEOUT)
