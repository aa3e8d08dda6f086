"""Workflow tasks run in the engine's own step (WorkflowEngine.local_executor): a workflow ends
the same, with the same events in the same order, in half the saves.

Each case runs the same workflows twice, once with its engine running the workflow tasks here
(the default of every transport; Pulsar's `handOffInProcess`) and once sending them through
the transport, and compares what a user sees."""

from __future__ import annotations

from typing import Any

import pytest

from infinitic import InfiniticWorker, WorkflowFailedError
from infinitic.transport.memory import InMemoryTransport
from tests.events import event_apps as apps
from tests.events.conftest import config, drained, until

WORKFLOW = "infinitic.workflow."


def _worker_config(transport: Any, local: bool) -> dict[str, Any]:
    if isinstance(transport, dict):  # pulsar: its own switch
        options = {**transport["pulsar"], "handOffInProcess": local}
        options["namespace"] += "-here" if local else "-sent"  # each run its own topics
        transport = {"pulsar": options}
    cfg = config(transport, "inMemory", "Recorder")
    cfg["workflows"].append({"name": "EvSteps", "class": "tests.events.event_apps.EvStepsImpl"})
    return cfg


def _run(transport: Any, local: bool) -> dict[str, Any]:
    """What a user sees of three workflows: results, each one's workflow events in order, and
    how many states were saved for each."""
    apps.Recorder.events = []
    saves: dict[str, int] = {}
    with InfiniticWorker.from_config(_worker_config(transport, local)) as worker:
        worker.add_workflow_listener(
            lambda state: saves.__setitem__(state.workflow_id, saves.get(state.workflow_id, 0) + 1)
        )
        client = worker.client
        steps = client.dispatch(client.new_workflow(apps.EvSteps).run, 1)
        echo = client.dispatch(client.new_workflow(apps.EvChild).echo, "x")
        crash = client.dispatch(client.new_workflow(apps.EvChild).crash)
        results: dict[str, Any] = {"steps": steps.result(timeout=30), "echo": echo.result(30)}
        with pytest.raises(WorkflowFailedError) as failed:
            crash.result(timeout=30)
        results["crash"] = str(failed.value).replace(crash.id, "<id>")
        ids = {"steps": steps.id, "echo": echo.id, "crash": crash.id}

        def ended() -> bool:
            heard = {e.get_subject() for e in apps.Recorder.events if _ends(e.get_type())}
            return set(ids.values()) <= heard and drained(worker)

        until(ended, "the three workflows' last events")
    events = {
        what: [
            e.get_type().removeprefix(WORKFLOW)
            for e in apps.Recorder.events
            if e.get_subject() == wid and e.get_type().startswith(WORKFLOW)
        ]
        for what, wid in ids.items()
    }
    return {
        "results": results,
        "events": events,
        "saves": {what: saves.get(wid, 0) for what, wid in ids.items()},
    }


def _ends(kind: str) -> bool:
    return kind in (WORKFLOW + "completed", WORKFLOW + "failed")


def _compare(here: dict[str, Any], sent: dict[str, Any]) -> None:
    assert here["results"] == sent["results"]
    assert here["results"]["steps"] == 9 and here["results"]["echo"] == "x"
    assert here["events"] == sent["events"]
    steps = here["events"]["steps"]
    assert steps.count("executorDispatched") == steps.count("executorCompleted") == 5
    assert steps[-3:] == ["executorCompleted", "methodCompleted", "completed"]
    # a start and its first workflow task, and each result and the task after it: one save
    # each instead of two
    assert sent["saves"]["steps"] == 2 * here["saves"]["steps"]
    assert sent["saves"]["echo"] == 2 * here["saves"]["echo"] == 2


def test_in_memory_same_events_half_the_saves(monkeypatch: pytest.MonkeyPatch) -> None:
    here = _run("inMemory", True)
    monkeypatch.setattr(InMemoryTransport, "workflow_tasks_in_process", False)
    sent = _run("inMemory", False)
    _compare(here, sent)


@pytest.mark.pulsar
def test_pulsar_same_events_half_the_saves(pulsar_transport: Any) -> None:
    _compare(_run(pulsar_transport, True), _run(pulsar_transport, False))
