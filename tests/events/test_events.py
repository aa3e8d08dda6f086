"""The event listener: every event type of one workflow, each once; a failing listener."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from infinitic import InfiniticWorker
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


def test_every_event_type_once(setup: tuple[Any, Any]) -> None:
    transport, storage = setup
    with InfiniticWorker.from_config(config(transport, storage, "Recorder")) as worker:
        parent_id = run_parent(worker)

        def all_heard() -> bool:
            seen = Counter(e.get_type() for e in apps.Recorder.events)
            return all(seen[t] >= n for t, n in EXPECTED.items()) and drained(worker)

        until(all_heard, "every event")
    # closed: whatever else was noted has been handed over too (a duplicate would be counted)
    events = list(apps.Recorder.events)
    counts = Counter(e.get_type() for e in events)
    assert {t: counts[t] for t in EXPECTED} == EXPECTED
    # every workflow task dispatched ended once, in a completion or a failure
    executors = counts["infinitic.workflow.executorDispatched"]
    assert executors >= 12
    assert counts["infinitic.workflow.executorCompleted"] + 1 == executors
    assert set(counts) == set(types.ALL_TYPES) - {types.TASK_DELEGATION_COMPLETED}
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


def test_allow_and_disallow_choose_what_is_heard() -> None:
    listener = {
        "class": "tests.events.event_apps.Recorder",
        "services": {"disallow": ["EvFlaky"]},
        "workflows": {"allow": ["EvParent"]},
    }
    cfg = {**config("inMemory", "inMemory", None), "eventListener": listener}
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
    sources = {e.get_source().split("/", 1)[1] for e in events}
    assert sources == {"services/executor/EvTasks", "workflows/stateEngine/EvParent"}
