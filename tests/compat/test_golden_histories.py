"""Workflow histories recorded by earlier releases still replay on this one.

tests/compat/histories/v<N>/ holds histories written in history format version N (recorded by
tests/compat/record_histories.py from the frozen workflows of history_workflows.py, never
re-recorded). A release whose replay or history reader can no longer follow one fails here:
a workflow running when the release is deployed could no longer go on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infinitic import WorkflowUpdatedError
from infinitic.common.history import FORMAT, VERSION, state_of
from infinitic.testing import replay, replay_all
from tests.compat import history_workflows as hw
from tests.compat.record_histories import record

HISTORIES = Path(__file__).parent / "histories"
FILES = sorted(HISTORIES.glob("v*/*.json"))
COMMAND_KINDS = {"task", "workflow", "timer", "receive", "signal", "inline"}


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def test_every_format_version_has_its_golden_histories() -> None:
    versions = sorted({int(p.parent.name[1:]) for p in FILES})
    assert versions == list(range(1, VERSION + 1))


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
@pytest.mark.parametrize("check_mode", ["none", "simple", "strict"])
def test_a_golden_history_replays(path: Path, check_mode: str) -> None:
    document = _load(path)
    assert (document["format"], document["version"]) == (FORMAT, int(path.parent.name[1:]))
    state = state_of(document)
    replay(hw.WORKFLOWS[state.workflow_name], document, check_mode=check_mode)


def test_the_golden_histories_cover_every_command_kind() -> None:
    kinds: set[str] = set()
    statuses: set[str] = set()
    methods: set[str] = set()
    for path in FILES:
        for run in _load(path)["method_runs"]:
            methods.add(run["method"])
            for command in run["commands"]:
                kinds.add(command["kind"])
                statuses.add(command["status"])
    assert COMMAND_KINDS <= kinds
    assert {"completed", "failed", "ongoing"} <= statuses
    assert "note" in methods  # a second method run on a running instance


def test_a_change_to_the_workflow_fails_the_replay_of_its_golden_histories() -> None:
    class WithoutChild(hw.GoldenFlowImpl):
        def run(self, n: int) -> dict[str, object]:
            math = self.new_service(hw.GoldenService)
            total = math.add(n, 1)
            return {"total": total, "sums": [math.add(i, i) for i in range(3)]}

    with pytest.raises(WorkflowUpdatedError, match="3 of 3 histories diverge"):
        replay_all(WithoutChild, HISTORIES / "v1", check_mode="simple")


def test_golden_histories_are_never_recorded_over() -> None:
    with pytest.raises(SystemExit, match="never re-recorded"):
        record(HISTORIES / "v1")
    assert sorted(p.name for p in (HISTORIES / "v1").glob("*.json")) == sorted(
        p.name for p in FILES if p.parent.name == "v1"
    )
