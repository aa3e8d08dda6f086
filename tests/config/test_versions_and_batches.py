"""The `classes:` (workflow versions) and `batch:` keys: parsed, and bad values named."""

from __future__ import annotations

from typing import Any

import pytest

from infinitic import ConfigError, InfiniticWorker, batch, name
from infinitic.config import BatchConfig, load_config

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


def test_classes_must_be_a_list_of_class_paths() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"workflows": [{"name": "W", "classes": "a.B"}]})
    assert "workflows[0].classes" in str(caught.value)


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
