"""The event listener: every event type of one workflow, each once; a failing listener."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from infinitic import DeferredStatus, InfiniticWorker, WorkflowFailedError
from infinitic.events import types
from tests.events import event_apps as apps
from tests.events.conftest import config, drained, run_parent, until

# what EvParent.run makes happen (event_apps.py), by type; the executor events are checked apart
EXPECTED = {
    "infinitic.task.dispatch": 4,  # ok, boom, flaky, slow
    "infinitic.task.started": 5,  # flaky twice
    "infinitic.task.completed": 2,  # ok, flaky (slow still runs when counted)
    "infinitic.task.failed": 1,
    "infinitic.task.retryScheduled": 1,
    "infinitic.workflow.dispatch": 6,  # the parent and its five children
    "infinitic.workflow.dispatchMethod": 1,  # ping
    "infinitic.workflow.cancel": 1,  # the client cancels the fourth child
    "infinitic.workflow.signal": 2,  # the parent's two signals, as the child's engine took them
    "infinitic.workflow.started": 6,
    "infinitic.workflow.completed": 3,  # the parent, echo, listen
    "infinitic.workflow.failed": 1,  # crash
    "infinitic.workflow.canceled": 1,
    "infinitic.workflow.methodCompleted": 4,  # run, echo, listen, ping
    "infinitic.workflow.methodFailed": 1,
    "infinitic.workflow.methodCanceled": 1,
    "infinitic.workflow.methodTimedOut": 1,
    "infinitic.workflow.taskDispatched": 4,
    "infinitic.workflow.taskCompleted": 2,
    "infinitic.workflow.taskFailed": 1,
    "infinitic.workflow.taskTimedOut": 1,
    "infinitic.workflow.remoteMethodDispatched": 6,  # five children and ping
    "infinitic.workflow.remoteMethodCompleted": 3,  # echo, listen, ping
    "infinitic.workflow.remoteMethodFailed": 1,
    "infinitic.workflow.remoteMethodCanceled": 1,
    "infinitic.workflow.remoteMethodTimedOut": 1,
    "infinitic.workflow.timerDispatched": 1,
    "infinitic.workflow.timerCompleted": 1,
    "infinitic.workflow.signalDispatched": 2,
    "infinitic.workflow.signalReceived": 1,
    "infinitic.workflow.signalDiscarded": 1,
    "infinitic.workflow.executorFailed": 1,  # crash
}


COMMANDS_ONLY = ("retryTask", "retryExecutor")


def test_every_event_type_once(setup: tuple[Any, Any]) -> None:
    transport, storage = setup
    with InfiniticWorker.from_config(config(transport, storage, "Recorder")) as worker:
        parent_id = run_parent(worker)

        def all_heard() -> bool:
            seen = Counter(e.get_type() for e in apps.Recorder.events)
            return all(seen[t] >= n for t, n in EXPECTED.items()) and drained(worker)

        def missing() -> str:
            seen = Counter(e.get_type() for e in apps.Recorder.events)
            return str({t: (seen[t], n) for t, n in EXPECTED.items() if seen[t] < n})

        until(all_heard, "every event", missing)
    # closed: whatever else was noted has been handed over too (a duplicate would be counted)
    events = list(apps.Recorder.events)
    counts = Counter(e.get_type() for e in events)
    assert {t: counts[t] for t in EXPECTED} == EXPECTED
    # every workflow task dispatched ended once, in a completion or a failure
    executors = counts["infinitic.workflow.executorDispatched"]
    assert executors >= 12
    assert counts["infinitic.workflow.executorCompleted"] + 1 == executors
    # the commands only a client sends, and delegation: test_commands_and_delegation_are_events
    others = {types.TASK_DELEGATION_COMPLETED, *(types.WORKFLOW + s for s in COMMANDS_ONLY)}
    assert set(counts) == set(types.ALL_TYPES) - others
    assert len({(e.get_source(), e.get_id()) for e in events}) == len(events)  # no duplicate
    for e in events:  # valid by the SDK's own checks (the worker skips them: they cost)
        CloudEvent._validate_attribute(e.get_attributes())
        assert e.get_specversion() == "1.0" and e.get_datacontenttype() == "application/json"
        json.loads(JSONFormat().write(e))  # and serializable, data included
    parent = [e for e in events if e.get_subject() == parent_id]
    assert {e.get_source().rsplit("/", 2)[-2:][0] for e in parent} == {"stateEngine"}
    completed = next(e for e in parent if e.get_type() == "infinitic.workflow.completed")
    assert completed.get_source().endswith("/workflows/stateEngine/EvParent")
    task_done = next(e for e in parent if e.get_type() == "infinitic.workflow.taskCompleted")
    data = task_done.get_data()
    assert isinstance(data, dict)
    assert (
        data["taskCompleted"]["output"] == 2 and data["taskCompleted"]["serviceName"] == "EvTasks"
    )
    assert data["methodName"] == "run" and data["workflowName"] == "EvParent"
    failed = next(e for e in events if e.get_type() == "infinitic.task.failed")
    failure = failed.get_data()["failure"]  # type: ignore[index]
    assert failure["name"] == "ValueError" and failure["message"] == "boom"
    retry = next(e for e in events if e.get_type() == "infinitic.task.retryScheduled")
    assert retry.get_data()["secondsBeforeRetry"] == pytest.approx(0.01)  # type: ignore[index]
    assert retry.get_source().endswith("/services/executor/EvFlaky")


def test_a_failing_listener_is_retried_and_loses_nothing() -> None:
    with InfiniticWorker.from_config(config("inMemory", "inMemory", "FailingRecorder")) as worker:
        parent_id = run_parent(worker)  # the workflows went on while the listener failed
        until(lambda: drained(worker), "the events to be delivered")
        events = list(apps.Recorder.events)
    assert apps.FailingRecorder.calls > apps.FailingRecorder.FAILURES
    counts = Counter(e.get_type() for e in events)
    assert {t: counts[t] for t in EXPECTED} == EXPECTED  # each batch retried whole, once
    assert any(e.get_subject() == parent_id for e in events)


def test_a_listener_that_always_fails_blocks_no_workflow() -> None:
    cfg = config("inMemory", "inMemory", "BrokenRecorder", shutdownGracePeriodSeconds=0.2)
    with InfiniticWorker.from_config(cfg) as worker:
        run_parent(worker)
        pipeline = worker.observability.pipeline
        assert pipeline is not None and pipeline.pending() > 0  # held, waiting for a retry
    assert apps.BrokenRecorder.calls >= 1


@pytest.mark.parametrize(
    "transport", ["inMemory", pytest.param("pulsar", marks=pytest.mark.pulsar)]
)
def test_allow_and_disallow_choose_what_is_heard(
    transport: str, request: pytest.FixtureRequest
) -> None:
    """On Pulsar, where the workers publish every event, the listener filters as it reads."""
    listener = {
        "class": "tests.events.event_apps.Recorder",
        "services": {"disallow": ["EvFlaky"]},
        "workflows": {"allow": ["EvParent"]},
    }
    where = request.getfixturevalue("pulsar_transport") if transport == "pulsar" else transport
    cfg = {**config(where, "inMemory", None), "eventListener": listener}
    with InfiniticWorker.from_config(cfg) as worker:
        run_parent(worker)
        until(
            lambda: (
                any(e.get_type() == "infinitic.workflow.completed" for e in apps.Recorder.events)
                and drained(worker)
            ),
            "the parent's completion",
        )
        events = list(apps.Recorder.events)
    sources = {"/".join(e.get_source().rsplit("/", 3)[-3:]) for e in events}
    assert sources == {"services/executor/EvTasks", "workflows/stateEngine/EvParent"}


def test_commands_and_delegation_are_events() -> None:
    """What a user asks of an instance is heard as Infinitic's command events (with what was
    asked), before what it did; a `@delegated` task that returned is `delegationCompleted`."""
    from infinitic.common.ids import custom_workflow_id

    with InfiniticWorker.from_config(config("inMemory", "inMemory", "Recorder")) as worker:
        client = worker.client
        crashed = client.dispatch(client.new_workflow(apps.EvChild).crash)
        with pytest.raises(WorkflowFailedError):
            crashed.result(timeout=30)
        stub = client.get_workflow_by_id(apps.EvChild, crashed.id)
        client.retry_workflow_task(stub)
        client.retry_tasks(stub, task_status=DeferredStatus.FAILED, task_class=apps.EvTasks)
        client.cancel(stub)
        tags = {f"customId:{uuid.uuid4().hex}"}
        listening = client.dispatch(client.new_workflow(apps.EvChild, tags=tags).listen)
        listener_id = custom_workflow_id("EvChild", tags)
        until(lambda: _heard("infinitic.workflow.started", listener_id), "the listener's start")
        until(lambda: _receiving(client, listener_id), "its receive")
        client.get_workflow_by_id(apps.EvChild, listening.id).ch.send("hi")
        assert listening.result(timeout=30) == "hi"
        delegating = client.dispatch(client.new_service(apps.EvDelegated).later)
        assert apps.DELEGATED.wait(30)
        client.complete_delegated_task("EvDelegated", delegating.id, 7)
        assert delegating.result(timeout=30) == 7

        def heard_all() -> bool:
            return _heard("infinitic.workflow.canceled", crashed.id) and drained(worker)

        until(heard_all, "the cancel's effect")
    events = list(apps.Recorder.events)
    on_crashed = [e.get_type().rsplit(".", 1)[1] for e in events if e.get_subject() == crashed.id]
    commands = [t for t in on_crashed if t in ("retryExecutor", "retryTask", "cancel")]
    assert commands == ["retryExecutor", "retryTask", "cancel"]  # in the order sent
    assert on_crashed.count("executorFailed") == 2  # crashed again when retried
    assert on_crashed.index("cancel") < on_crashed.index("canceled")
    retry = next(e for e in events if e.get_type() == "infinitic.workflow.retryTask")
    assert retry.get_data() == {
        "retryTask": {"taskId": None, "taskStatus": "failed", "serviceName": "EvTasks"},
        "workflowName": "EvChild",
        "workerName": "events-worker",
        "infiniticVersion": retry.get_data()["infiniticVersion"],  # type: ignore[index]
    }
    signal = next(e for e in events if e.get_type() == "infinitic.workflow.signal")
    received = next(e for e in events if e.get_type() == "infinitic.workflow.signalReceived")
    assert signal.get_subject() == received.get_subject() == listening.id
    assert signal.get_data()["signal"] == {  # type: ignore[index]
        "signalId": signal.get_id(),
        "channel": "ch",
        "signalData": "hi",
    }
    assert received.get_id() == f"{signal.get_id()}/signalReceived"
    (delegation,) = [e for e in events if e.get_type() == "infinitic.task.delegationCompleted"]
    assert delegation.get_subject() == delegating.id
    assert delegation.get_source().endswith("/services/executor/EvDelegated")
    data = delegation.get_data()
    assert isinstance(data, dict) and (data["serviceName"], data["taskName"]) == (
        "EvDelegated",
        "later",
    )
    types_heard = {e.get_type() for e in events if e.get_subject() == delegating.id}
    assert "infinitic.task.completed" not in types_heard  # its result came from the client
    assert len({(e.get_source(), e.get_id()) for e in events}) == len(events)  # no duplicate


def test_a_timer_already_due_when_armed_is_dispatched() -> None:
    """A timer whose time has passed when the engine arms it (a short timer on a busy engine)
    is dispatched and completed like any other: a listener hears both."""
    with InfiniticWorker.from_config(config("inMemory", "inMemory", "Recorder")) as worker:
        client = worker.client
        handle = client.dispatch(client.new_workflow(apps.EvChild).due)
        assert handle.result(timeout=30) == "due"
        until(lambda: _heard("infinitic.workflow.completed", handle.id), "the completion")
        until(lambda: drained(worker), "the events")
    heard = [
        e.get_type().rsplit(".", 1)[1] for e in apps.Recorder.events if e.get_subject() == handle.id
    ]
    assert heard.count("timerDispatched") == 1 and heard.count("timerCompleted") == 1
    assert heard.index("timerDispatched") < heard.index("timerCompleted")


def _heard(etype: str, subject: str | None) -> bool:
    return any(e.get_type() == etype and e.get_subject() == subject for e in apps.Recorder.events)


def _receiving(client: Any, workflow_id: str | None) -> bool:
    assert workflow_id is not None
    info = client.describe_workflow("EvChild", workflow_id)
    return info is not None and any(c.kind == "receive" for c in info.method_runs[0].commands)
