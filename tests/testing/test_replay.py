"""replay / replay_all over saved histories (docs/testing.md), and the history format."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from infinitic import UnknownWorkflowError, WorkflowUpdatedError, any_of
from infinitic.common.history import FORMAT, VERSION, HistoryError, history_of, state_of
from infinitic.testing import WorkflowEnvironment, fetch_history, replay, replay_all
from tests.helpers import started
from tests.testing.saga import (
    TravelService,
    TravelServiceImpl,
    TripSaga,
    TripSagaImpl,
    TripSagaWithDeposit,
)

HISTORIES = Path(__file__).parent / "histories"
START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def record(folder: Path) -> None:
    """Writes the saga's histories; `python -m tests.testing.test_replay` refreshes the fixtures."""
    folder.mkdir(parents=True, exist_ok=True)
    with WorkflowEnvironment(
        services=[TravelServiceImpl], workflows=[TripSagaImpl], start=START
    ) as env:
        histories = {}
        confirmed = env.client.dispatch(env.client.new_workflow(TripSaga).book, "rome")
        env.client.get_workflow_by_id(TripSaga, confirmed.id).confirmation.send(True)
        confirmed.result()
        histories["confirmed"] = env.history(TripSaga, confirmed.id)
        waiting = env.client.dispatch(env.client.new_workflow(TripSaga).book, "lima")
        histories["waiting"] = env.history(TripSaga, waiting.id)
        expired = env.client.dispatch(env.client.new_workflow(TripSaga).book, "oslo")
        expired.result()
        histories["expired"] = env.history(TripSaga, expired.id)
    for label, history in histories.items():
        path = folder / f"trip-saga-{label}.json"
        path.write_text(json.dumps(history, indent=1, sort_keys=True) + "\n")


def _load(label: str) -> dict[str, Any]:
    history: dict[str, Any] = json.loads((HISTORIES / f"trip-saga-{label}.json").read_text())
    return history


@pytest.mark.parametrize("label", ["confirmed", "expired", "waiting"])
@pytest.mark.parametrize("check_mode", ["none", "simple", "strict"])
def test_the_saga_replays_its_saved_histories(label: str, check_mode: str) -> None:
    replay(TripSagaImpl, HISTORIES / f"trip-saga-{label}.json", check_mode=check_mode)


class TripSagaAsync(TripSaga):
    """The saga rewritten as an `async def` method: the same commands at the same positions."""

    async def book(self, trip: str) -> str:  # type: ignore[override]
        travel = self.new_service(TravelService)
        hotel = travel.book_hotel(trip)
        flight = travel.book_flight(trip)
        answer = await any_of(self.confirmation.receive(), self.timer(timedelta(days=7)))
        if answer is True:
            return travel.charge(trip)
        return f"{travel.cancel(flight)}, {travel.cancel(hotel)}"


@pytest.mark.parametrize("label", ["confirmed", "expired", "waiting"])
def test_an_async_rewrite_follows_the_histories_of_the_sync_saga(label: str) -> None:
    replay(TripSagaAsync, _load(label), check_mode="strict")


def test_strict_mode_also_compares_arguments() -> None:
    class Shouting(TripSagaImpl):
        def book(self, trip: str) -> str:
            return super().book(trip.upper())

    replay(Shouting, _load("confirmed"))  # simple: same commands on the same targets
    with pytest.raises(WorkflowUpdatedError, match="position 0 of method book: the arguments"):
        replay(Shouting, _load("confirmed"), check_mode="strict")


@pytest.mark.parametrize("label", ["confirmed", "expired", "waiting"])
def test_a_changed_saga_is_caught_where_it_diverges(label: str) -> None:
    expected = (
        "at position 2 of method book: expected TravelService.book_flight, "
        "found TravelService.charge"
    )
    with pytest.raises(WorkflowUpdatedError, match=expected):
        replay(TripSagaWithDeposit, _load(label))


def test_replay_all_names_every_diverging_file(tmp_path: Path) -> None:
    assert [p.name for p in replay_all(TripSagaImpl, HISTORIES)] == [
        "trip-saga-confirmed.json",
        "trip-saga-expired.json",
        "trip-saga-waiting.json",
    ]
    with pytest.raises(WorkflowUpdatedError, match="3 of 3 histories diverge") as caught:
        replay_all({TripSaga: TripSagaWithDeposit}, HISTORIES)
    assert "trip-saga-expired.json: workflow TripSaga" in str(caught.value)
    shutil.copy(HISTORIES / "trip-saga-confirmed.json", tmp_path / "a.json")
    with pytest.raises(ValueError, match="a.json: a history of workflow 'TripSaga'"):
        replay_all({"Other": TripSagaImpl}, tmp_path)


def test_a_completed_run_that_goes_on_is_caught() -> None:
    history = _load("confirmed")
    run = history["method_runs"][0]
    last = run["steps"][-1]["position"]
    # as if the recorded code had returned right after the charge's await ... it did: drop it
    run["commands"] = [c for c in run["commands"] if c["target"] != "TravelService.charge"]
    run["steps"] = [s for s in run["steps"] if s["position"] < last - 1]
    with pytest.raises(WorkflowUpdatedError, match="position 7 of method book: the code goes on"):
        replay(TripSagaImpl, history)


def test_the_code_returning_before_the_history_ends_is_caught() -> None:
    history = _load("expired")
    run = history["method_runs"][0]
    extra = dict(run["commands"][-1], position=run["steps"][-1]["position"] + 1)
    run["commands"].append(extra)
    with pytest.raises(WorkflowUpdatedError, match="returns before it"):
        replay(TripSagaImpl, history)


def test_describe_json_output_and_info_objects_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "describe.json"
    path.write_text(json.dumps({"id": "x", "history": _load("confirmed")}))
    replay(TripSagaImpl, path)

    class Info:
        def history(self) -> dict[str, Any]:
            return _load("confirmed")

    replay(TripSagaImpl, Info())


def test_a_history_of_another_workflow_or_version_is_refused(tmp_path: Path) -> None:
    from tests.sample_workflows import BasicWorkflowImpl

    with pytest.raises(ValueError, match="history of workflow 'TripSaga'"):
        replay(BasicWorkflowImpl, _load("confirmed"))
    newer = dict(_load("confirmed"), version=VERSION + 1)
    with pytest.raises(HistoryError, match=f"version {VERSION + 1} is not readable"):
        replay(TripSagaImpl, newer)
    broken = _load("confirmed")
    del broken["method_runs"][0]["commands"][1]["kind"]
    with pytest.raises(HistoryError, match=r"history.method_runs\[0\].commands\[1\].kind: missing"):
        replay(TripSagaImpl, broken)
    broken = _load("confirmed")
    broken["workflow"]["meta"] = {"key": "not base64!"}
    with pytest.raises(HistoryError, match=r"history.workflow.meta.key: a meta value is base64"):
        replay(TripSagaImpl, broken)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(HistoryError, match="bad.json: not JSON"):
        replay(TripSagaImpl, tmp_path / "bad.json")


def test_the_fixtures_are_what_the_environment_records(tmp_path: Path) -> None:
    """A changed history format or saga shows here first: refresh the fixtures on purpose."""
    record(tmp_path)

    def shape(doc: dict[str, Any]) -> Any:
        return [
            (run["method"], run["status"], run["result"])
            + tuple((c["position"], c["kind"], c["target"], c["status"]) for c in run["commands"])
            for run in doc["method_runs"]
        ]

    for label in ("confirmed", "expired", "waiting"):
        fresh = json.loads((tmp_path / f"trip-saga-{label}.json").read_text())
        assert fresh["format"] == FORMAT and fresh["version"] == VERSION
        assert shape(fresh) == shape(_load(label))


def test_fetch_history_reads_a_deployment_storage(tmp_path: Path) -> None:
    from tests.sample_workflows import BasicWorkflow, BasicWorkflowImpl

    config = {
        "name": "deployment",
        "transport": {"inMemory": {"channel": "fetch-history"}},
        "storage": {"sqlite": {"path": str(tmp_path / "states.db")}},
        "services": [{"name": "Math", "class": "tests.sample_workflows.MathServiceImpl"}],
        "workflows": [{"name": "Basic", "class": "tests.sample_workflows.BasicWorkflowImpl"}],
    }
    with started(config) as worker:
        handle = worker.client.dispatch(worker.client.new_workflow(BasicWorkflow).sequential, 3)
        assert handle.result(timeout=30) == 3
        history = fetch_history(config, BasicWorkflow, handle.id)
    targets = [c["target"] for c in history["method_runs"][0]["commands"]]
    assert targets == ["Math.add"] * 3
    replay(BasicWorkflowImpl, history)
    with pytest.raises(UnknownWorkflowError, match="no workflow Basic with id nope"):
        fetch_history(config, "Basic", "nope")


def test_history_round_trips_through_the_state() -> None:
    for label in ("confirmed", "expired", "waiting"):
        doc = _load(label)
        assert history_of(state_of(doc)) == doc


if __name__ == "__main__":  # pragma: no cover - refreshes the fixtures
    record(Path(sys.argv[1]) if len(sys.argv) > 1 else HISTORIES)
