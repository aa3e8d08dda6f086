"""Workflows end to end on the embedded default (in-memory transport; memory and SQLite state)."""

from __future__ import annotations

import pytest

from infinitic import (
    CanceledError,
    InfiniticWorker,
    TimeoutError,
    UnknownWorkflowError,
    WorkflowFailedError,
)
from infinitic.service.spec import entity_name
from tests import sample_workflows as sw
from tests.workflow_probe import probe_for, wait_until_waiting, waits_after_signals, waits_on_timer

WAIT = 30


# the same workflows written with sync methods and with `async def` methods (sample_workflows.py)
@pytest.fixture(params=[sw.BasicWorkflow, sw.AsyncBasicWorkflow], ids=["sync", "async"])
def basic(request: pytest.FixtureRequest) -> type:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=[sw.LoyaltyWorkflow, sw.AsyncLoyaltyWorkflow], ids=["sync", "async"])
def loyalty(request: pytest.FixtureRequest) -> type:
    return request.param  # type: ignore[no-any-return]


def test_sequential_tasks(worker: InfiniticWorker, basic: type) -> None:
    wf = worker.client.new_workflow(basic)
    assert wf.sequential(5) == 0 + 1 + 2 + 3 + 4


def test_parallel_tasks_all_of(worker: InfiniticWorker, basic: type) -> None:
    assert worker.client.new_workflow(basic).parallel(20) == [2 * i for i in range(20)]


def test_any_of_returns_first_completed(worker: InfiniticWorker, basic: type) -> None:
    assert worker.client.new_workflow(basic).racing() == "winner 2"


def test_task_failure_is_catchable(worker: InfiniticWorker, basic: type) -> None:
    assert worker.client.new_workflow(basic).catching() == "caught ValueError: expected"


def test_uncaught_task_failure_fails_the_workflow(worker: InfiniticWorker, basic: type) -> None:
    with pytest.raises(WorkflowFailedError) as info:
        worker.client.new_workflow(basic).failing()
    assert "TaskFailedError" in str(info.value) and "boom" in str(info.value)


def test_timer(worker: InfiniticWorker, basic: type) -> None:
    assert worker.client.new_workflow(basic).with_timer(0.05) == "fired True"


def test_inline_result_is_recorded_once(worker: InfiniticWorker, basic: type) -> None:
    value, again = worker.client.new_workflow(basic).with_inline()
    assert value == again  # the replay after the task saw the same random value


def test_workflow_context(worker: InfiniticWorker, basic: type) -> None:
    client = worker.client
    wf = client.new_workflow(basic, tags={"a", "b"}, meta={"k": b"v"})
    handle = client.dispatch(wf.context)
    ctx = handle.result(timeout=WAIT)
    assert ctx == {
        "id": handle.id,
        "name": entity_name(basic),
        "tags": ["a", "b"],
        "meta": {"k": "v"},
        "method": "context",
    }


def test_deferred_status(worker: InfiniticWorker, basic: type) -> None:
    assert worker.client.new_workflow(basic).statuses() == [
        "ongoing",
        "completed",
        "completed",
    ]


def test_stub_timeout_raises_timeout_error_in_workflow(
    worker: InfiniticWorker, basic: type
) -> None:
    assert worker.client.new_workflow(basic).timed() == "timed out"
    sw.FOREVER.set()  # the timed-out task still runs: the worker's close would wait for it


def test_child_workflow(worker: InfiniticWorker, basic: type) -> None:
    assert worker.client.new_workflow(basic).child(4) == 1006


def test_many_children_in_parallel(worker: InfiniticWorker, basic: type) -> None:
    assert worker.client.new_workflow(basic).children(5) == [0, 0, 1, 3, 6]


def test_child_failure_propagates(worker: InfiniticWorker, basic: type) -> None:
    out = worker.client.new_workflow(basic).child_fails()
    assert out.startswith("child failed: ") and "boom" in out


def test_channel_signals_and_properties(worker: InfiniticWorker, loyalty: type) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(loyalty).start, 100)
    stub = client.get_workflow_by_id(loyalty, handle.id)
    for received, points in enumerate((30, 30, 50)):
        wait_until_waiting(worker, stub, waits_after_signals(received))
        stub.points.send(points)
    assert handle.result(timeout=WAIT) == 110
    assert client.wait(stub, timeout=WAIT) == 110  # after the end, within the retention


def test_several_methods_share_properties(worker: InfiniticWorker, loyalty: type) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(loyalty).start, 100)
    stub = client.get_workflow_by_id(loyalty, handle.id)
    assert stub.bonus(60) == 60  # a second method run on the same instance
    assert stub.level() == "silver"
    _when_waiting(worker, stub)
    stub.points.send(50)
    assert handle.result(timeout=WAIT) == 110
    # the main run saw the bonus method's change: 60 + 50 reached the goal


def test_channel_filter(worker: InfiniticWorker, loyalty: type) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(loyalty).wait_event)
    stub = client.get_workflow_by_id(loyalty, handle.id)
    _when_waiting(worker, stub)
    stub.events.send({"type": "visit", "shop": {"id": 7}})
    stub.events.send({"type": "purchase", "shop": {"id": 8}})
    stub.events.send({"type": "purchase", "shop": {"id": 7}, "n": 3})
    assert handle.result(timeout=WAIT) == {"type": "purchase", "shop": {"id": 7}, "n": 3}


def test_any_of_signal_or_timer(worker: InfiniticWorker, loyalty: type) -> None:
    client = worker.client
    assert client.new_workflow(loyalty).wait_or_timeout(0.05) == "timeout"


def test_tags_and_signal_by_tag(worker: InfiniticWorker) -> None:
    client = worker.client
    handles = [
        client.dispatch(client.new_workflow(sw.LoyaltyWorkflow, tags={"team:x"}).start, 10)
        for _ in range(3)
    ]
    for h in handles:
        _when_waiting(worker, client.get_workflow_by_id(sw.LoyaltyWorkflow, h.id))
    assert sorted(client.get_ids_by_tag(sw.LoyaltyWorkflow, "team:x")) == sorted(
        h.id for h in handles
    )
    client.get_workflow_by_tag(sw.LoyaltyWorkflow, "team:x").points.send(10)
    assert [h.result(timeout=WAIT) for h in handles] == [10, 10, 10]


def test_custom_id_reuses_the_running_instance(worker: InfiniticWorker) -> None:
    client = worker.client
    first = client.dispatch(
        client.new_workflow(sw.LoyaltyWorkflow, tags={"customId:order-1"}).start, 10
    )
    second = client.dispatch(
        client.new_workflow(sw.LoyaltyWorkflow, tags={"customId:order-1"}).start, 999
    )
    assert first.id == second.id
    stub = client.get_workflow_by_id(sw.LoyaltyWorkflow, first.id)
    _when_waiting(worker, stub)
    stub.points.send(10)
    assert first.result(timeout=WAIT) == 10 and second.result(timeout=WAIT) == 10


def test_cancel_running_workflow_and_its_child(worker: InfiniticWorker) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(sw.SleepyWorkflow).parent_of_nap, 60)
    stub = client.get_workflow_by_id(sw.SleepyWorkflow, handle.id)
    _when_waiting(worker, stub)
    client.cancel(stub)
    with pytest.raises(CanceledError):
        handle.result(timeout=WAIT)
    with pytest.raises(CanceledError):
        client.wait(stub, timeout=WAIT)


def test_complete_timers(worker: InfiniticWorker) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(sw.SleepyWorkflow).nap, 3600)
    stub = client.get_workflow_by_id(sw.SleepyWorkflow, handle.id)
    _when_waiting(worker, stub)
    client.complete_timers(stub)
    assert handle.result(timeout=WAIT) == "rested"


def test_unknown_workflow(worker: InfiniticWorker) -> None:
    stub = worker.client.get_workflow_by_id(sw.LoyaltyWorkflow, "no-such-id")
    with pytest.raises(UnknownWorkflowError):
        worker.client.wait(stub, timeout=WAIT)
    with pytest.raises(UnknownWorkflowError):
        stub.level()


def test_non_determinism_then_retry_workflow_task(worker: InfiniticWorker, basic: type) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(basic).changing)
    stub = client.get_workflow_by_id(basic, handle.id)
    wait_until_waiting(worker, stub, waits_on_timer)
    sw.GATES["changed"] = True  # "deploy" a changed workflow
    client.complete_timers(stub)
    with pytest.raises(WorkflowFailedError, match="was changed since it started, at position 2"):
        handle.result(timeout=WAIT)
    sw.GATES["changed"] = False  # the fix
    client.retry_workflow_task(stub)
    assert client.wait(stub, timeout=WAIT) == 2


def test_retry_tasks_after_failure(
    worker: InfiniticWorker, basic: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(basic).failing)
    with pytest.raises(WorkflowFailedError):
        handle.result(timeout=WAIT)
    stub = client.get_workflow_by_id(basic, handle.id)
    monkeypatch.setattr(sw.MathServiceImpl, "fail", lambda self, why: 42)  # the service is fixed
    client.retry_tasks(stub)
    assert client.wait(stub, timeout=WAIT) == 42


def test_wait_times_out_while_running(worker: InfiniticWorker) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(sw.SleepyWorkflow).nap, 3600)
    with pytest.raises(TimeoutError):
        client.wait(client.get_workflow_by_id(sw.SleepyWorkflow, handle.id), timeout=0.2)


def _when_waiting(worker: InfiniticWorker, stub: object) -> None:
    """Blocks until the instance waits at a step (so a signal finds its receive recorded)."""
    wait_until_waiting(worker, stub)


@pytest.mark.parametrize(("interface", "fails"), [(sw.SimpleCheck, False), (sw.StrictCheck, True)])
def test_check_mode_strict_compares_arguments(
    worker: InfiniticWorker, interface: type, fails: bool
) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(interface).run)
    stub = client.get_workflow_by_id(interface, handle.id)
    wait_until_waiting(worker, stub, waits_on_timer)
    sw.GATES["delta"] = 5  # the same task, called with other arguments
    client.complete_timers(stub)
    if fails:
        with pytest.raises(WorkflowFailedError, match="the arguments of Math.add changed"):
            handle.result(timeout=WAIT)
    else:
        assert handle.result(timeout=WAIT) == 2  # simple mode: the recorded result stands


def test_cancel_reaches_the_children(worker: InfiniticWorker) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(sw.SleepyWorkflow).parent_of_nap, 60)
    parent = client.get_workflow_by_id(sw.SleepyWorkflow, handle.id)
    probe = probe_for(worker)
    probe.wait_until(handle.id, _has_child)
    child_id = probe.last(handle.id).method_runs[0].commands[0].command_id
    probe.wait_until(child_id, waits_on_timer)
    client.cancel(parent)
    probe.wait_until(child_id, lambda state: state.status == "canceled")
    with pytest.raises(CanceledError):
        client.wait(client.get_workflow_by_id(sw.SleepyWorkflow, child_id), timeout=WAIT)


def _has_child(state: object) -> bool:
    runs = state.method_runs  # type: ignore[attr-defined]
    return bool(runs and runs[0].commands and runs[0].commands[0].kind == "workflow")


def test_nested_all_of_any_of(worker: InfiniticWorker, basic: type) -> None:
    assert worker.client.new_workflow(basic).nested() == [2, [4, 6]]


def test_timer_until(worker: InfiniticWorker, basic: type) -> None:
    assert worker.client.new_workflow(basic).until() is True


def test_signal_sent_by_another_workflow(worker: InfiniticWorker) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(sw.LoyaltyWorkflow).start, 100)
    wait_until_waiting(worker, client.get_workflow_by_id(sw.LoyaltyWorkflow, handle.id))
    assert client.new_workflow(sw.BasicWorkflow).signal_other(handle.id) == "sent"
    assert handle.result(timeout=WAIT) == 100


def test_loyalty_example_runs() -> None:
    from examples.loyalty import CONFIG, LoyaltyProgram

    with InfiniticWorker.from_config(CONFIG) as loyalty_worker:
        client = loyalty_worker.client
        handle = client.dispatch(client.new_workflow(LoyaltyProgram).run, 2, 0.05)
        assert handle.result(timeout=WAIT) == 2  # two periods, no points: one per period
