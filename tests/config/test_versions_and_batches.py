"""The `classes:` (workflow versions) and `batch:` keys: parsed, and bad values named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infinitic import ConfigError, InfiniticWorker, batch, name
from infinitic.config import BatchConfig, load_config, load_config_file
from tests.scenarios.areas.versioning import VersionedWorkflow

VERSIONED = "tests.scenarios.areas.versioning"
BATCHES = "tests.scenarios.areas.batches"


def test_batch_and_classes_are_parsed() -> None:
    config = load_config(
        {
            "services": [
                {
                    "name": "batchService",
                    "class": f"{BATCHES}.BatchServiceImpl",
                    "batch": {"maxMessages": 10, "maxSeconds": 0.25},
                }
            ],
            "workflows": [
                {
                    "name": f"{VERSIONED}.VersionedWorkflow",
                    "classes": [f"{VERSIONED}.VersionedWorkflowImpl"],
                    "concurrency": 2,
                    "batch": {"maxMessages": 8, "maxSeconds": 1},
                }
            ],
        }
    )
    assert config.services[0].batch == BatchConfig(10, 0.25)
    workflow = config.workflows[0]
    assert workflow.class_paths == (f"{VERSIONED}.VersionedWorkflowImpl",)
    assert workflow.batch == BatchConfig(8, 1.0)
    assert workflow.handled_at_once == 8


@pytest.mark.parametrize(
    ("batch", "fragment"),
    [
        ({"maxMessages": 10}, "services[0].batch.maxSeconds: missing"),
        ({"maxMessages": 0, "maxSeconds": 1}, "services[0].batch.maxMessages: must be greater"),
        ({"maxMessages": 2.5, "maxSeconds": 1}, "expected an integer"),
        ({"maxMessages": 2, "maxSeconds": 1, "size": 3}, "services[0].batch"),
    ],
)
def test_bad_batch_names_the_key(batch: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"services": [{"name": "S", "batch": batch}]})
    assert fragment in str(caught.value)


@pytest.mark.parametrize("classes", [["a.B", ""], "a.B,,a.B_1", " ", 3, {"a": "B"}])
def test_classes_must_be_class_paths(classes: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"workflows": [{"name": "W", "classes": classes}]})
    assert "workflows[0].classes: expected a list of implementation classes" in str(caught.value)


def test_the_versions_deployed_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`classes: ${VAR}` with the paths separated by commas: the environment says which versions
    a worker runs, so a rollout (or a rollback) changes no file; new instances run the highest
    listed."""
    v0, v1 = f"{VERSIONED}.VersionedWorkflowImpl", f"{VERSIONED}.VersionedWorkflowImpl_1"
    path = tmp_path / "infinitic.yml"
    path.write_text(
        "name: versions\n"
        "workflows:\n"
        f"  - name: {VERSIONED}.VersionedWorkflow\n"
        f"    classes: ${{VERSIONS:-{v0}}}\n"
    )
    assert load_config_file(path).workflows[0].class_paths == (v0,)
    monkeypatch.setenv("VERSIONS", f"{v0}, {v1}")
    assert load_config_file(path).workflows[0].class_paths == (v0, v1)
    with InfiniticWorker.from_config_file(path) as worker:
        assert worker.client.new_workflow(VersionedWorkflow).run() == v1


def test_two_classes_of_one_version_are_refused() -> None:
    impl = f"{VERSIONED}.VersionedWorkflowImpl"
    config = {"workflows": [{"name": f"{VERSIONED}.VersionedWorkflow", "classes": [impl, impl]}]}
    with pytest.raises(ConfigError) as caught:
        InfiniticWorker.from_config(config)
    assert "workflows[0].classes[1]" in str(caught.value)
    assert "version 0" in str(caught.value)


def test_a_batch_method_must_name_a_task() -> None:
    config = {"services": [{"name": "X", "class": "tests.config.test_versions_and_batches.Bad"}]}
    with pytest.raises(ConfigError) as caught:
        InfiniticWorker.from_config(config)
    assert "@batch('nope') names no task of X" in str(caught.value)


@name("X")
class X:
    def run(self, n: int) -> int: ...


class Bad(X):
    def run(self, n: int) -> int:
        return n

    @batch("nope")
    def run_batch(self, all_args: dict[str, int]) -> dict[str, int]:
        return all_args
