"""Hostile configs: every mistake is a ConfigError naming the file, the key and the fix.

One table, run twice: as a dict (`InfiniticWorker.from_config(..., source="infinitic.yml")`)
and as a YAML file (`InfiniticWorker.from_config_file`), whose path must lead the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infinitic import ConfigError, InfiniticWorker

ECHO = "tests.sample_services.EchoServiceImpl"
BASIC = "tests.sample_workflows.BasicWorkflowImpl"


def svc(**entry: Any) -> dict[str, Any]:
    return {"services": [{"name": "Echo", "class": ECHO, **entry}]}


def wf(**entry: Any) -> dict[str, Any]:
    return {"workflows": [{"name": "Basic", "class": BASIC, **entry}]}


# (id, config, key, what the message must also say)
CASES: list[tuple[str, Any, str, str]] = [
    # unknown keys, with the nearest known one
    ("unknown-top-key", {"nmae": "w"}, "nmae", "unknown key; did you mean 'name'?"),
    ("unknown-service-key", svc(concurency=2), "services[0].concurency", "did you mean"),
    ("unknown-workflow-key", wf(checkmode="strict"), "workflows[0].checkmode", "'checkMode'"),
    ("unknown-retry-key", svc(retry={"maxRetries": 1}), "services[0].retry.maxRetries", "maximum"),
    # wrong types
    ("top-level-list", ["name", "w"], "the top level", "expected a mapping of worker settings"),
    ("name-not-a-string", {"name": 3}, "name", "expected a non-empty string, got 3"),
    ("empty-name", {"name": " "}, "name", "expected a non-empty string"),
    ("services-not-a-list", {"services": {"name": "Echo"}}, "services", "expected a list"),
    ("service-not-a-mapping", {"services": ["Echo"]}, "services[0]", "expected a mapping"),
    ("concurrency-string", svc(concurrency="4"), "services[0].concurrency", "expected an integer"),
    ("concurrency-bool", svc(concurrency=True), "services[0].concurrency", "expected an integer"),
    ("concurrency-zero", svc(concurrency=0), "services[0].concurrency", "greater than 0"),
    ("timeout-text", svc(timeoutInSeconds="5s"), "services[0].timeoutInSeconds", "a number"),
    ("timeout-nan", svc(timeoutInSeconds=float("nan")), "services[0].timeoutInSeconds", "0"),
    ("retry-not-a-mapping", svc(retry=5), "services[0].retry", "expected a mapping, got int"),
    (
        "retry-negative",
        svc(retry={"maximumRetries": -1}),
        "services[0].retry.maximumRetries",
        "0 or more",
    ),
    ("retry-invalid", svc(retry={"randomFactor": 2}), "services[0].retry", "randomFactor"),
    (
        "ignored-not-a-list",
        svc(retry={"ignoredExceptions": "E"}),
        "services[0].retry.ignoredExceptions",
        "a list",
    ),
    ("transport-number", {"transport": 5}, "transport", "expected one of"),
    ("transport-unknown", {"transport": "kafka"}, "transport", "unknown transport 'kafka'"),
    ("storage-typo", {"storage": "sqlit"}, "storage", "did you mean 'sqlite'?"),
    ("storage-two", {"storage": {"sqlite": {}, "redis": {}}}, "storage", "a mapping with one key"),
    ("storage-options", {"storage": {"sqlite": 3}}, "storage.sqlite", "a mapping of options"),
    ("check-mode", wf(checkMode="loose"), "workflows[0].checkMode", "must be one of"),
    ("cache-negative", wf(stateCacheSize=-5), "workflows[0].stateCacheSize", "0 or more"),
    ("retention-zero", wf(retentionSeconds=0), "workflows[0].retentionSeconds", "greater than 0"),
    (
        "grace-negative",
        {"shutdownGracePeriodSeconds": -1},
        "shutdownGracePeriodSeconds",
        "0 or more",
    ),
    (
        "duplicate-service",
        {"services": [{"name": "A"}, {"name": "A"}]},
        "services",
        "declared twice",
    ),
    ("missing-name", {"services": [{"class": ECHO}]}, "services[0].name", "missing"),
    # class paths that name nothing
    ("class-empty", svc(**{"class": ""}), "services[0].class", "expected a non-empty string"),
    ("class-number", svc(**{"class": 12}), "services[0].class", "expected a non-empty string"),
    ("class-no-dot", svc(**{"class": "Echo"}), "services[0].class", "write 'package.module.Class'"),
    ("class-bad-syntax", svc(**{"class": "tests..Echo"}), "services[0].class", "not a class path"),
    (
        "class-no-module",
        svc(**{"class": "nope.Echo"}),
        "services[0].class",
        "cannot import module 'nope'",
    ),
    (
        "class-missing",
        svc(**{"class": "tests.sample_services.Nope"}),
        "services[0].class",
        "has no 'Nope'",
    ),
    # class paths that name the wrong thing
    (
        "service-is-a-function",
        svc(**{"class": "tests.sample_services.record"}),
        "services[0].class",
        "'tests.sample_services.record' is a function, not a class: give the implementation class",
    ),
    (
        "service-is-a-module",
        svc(**{"class": "tests.sample_services"}),
        "services[0].class",
        "is a module, not a class: give the implementation class of the service",
    ),
    (
        "service-is-an-unimported-module",
        svc(**{"class": "email.mime"}),
        "services[0].class",
        "is a module, not a class",
    ),
    (
        "service-is-an-instance",
        svc(**{"class": "tests.sample_services.RUNS"}),
        "services[0].class",
        "is a list, not a class: give the implementation class",
    ),
    (
        "service-is-a-workflow",
        svc(**{"class": BASIC}),
        "services[0].class",
        "is a workflow (it subclasses infinitic.Workflow), not a service: declare it under workflows",
    ),
    (
        "service-is-its-interface",
        svc(**{"class": "tests.sample_services.EchoService"}),
        "services[0].class",
        f"is the service's interface (its methods have no body): give the implementation class, "
        f"e.g. '{ECHO}'",
    ),
    (
        "service-is-a-data-class",
        svc(**{"class": "tests.sample_services.Order"}),
        "services[0].class",
        "has no public method: it is not a service",
    ),
    (
        "workflow-is-a-service",
        wf(**{"class": ECHO}),
        "workflows[0].class",
        "is not a workflow: it must subclass infinitic.Workflow; it looks like a service: "
        "declare it under services",
    ),
    (
        "workflow-is-its-interface",
        wf(**{"class": "tests.sample_workflows.BasicWorkflow"}),
        "workflows[0].class",
        f"is the workflow's interface (its methods have no body): give the implementation "
        f"class, e.g. '{BASIC}'",
    ),
    (
        "workflow-is-a-function",
        wf(**{"class": "tests.sample_services.record"}),
        "workflows[0].class",
        "is a function, not a class: give the implementation class of the workflow",
    ),
]


def _check(error: ConfigError, source: str, key: str, fragment: str) -> None:
    message = str(error)
    assert message.startswith(f"{source}: {key}"), message
    assert fragment in message, message


@pytest.mark.parametrize("config, key, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_from_a_dict(config: Any, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        InfiniticWorker.from_config(config, source="infinitic.yml")
    _check(info.value, "infinitic.yml", key, fragment)


@pytest.mark.parametrize("config, key, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_from_a_yaml_file(config: Any, key: str, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "infinitic.yml"
    path.write_text(yaml.safe_dump(config))  # NaN round-trips as YAML's .nan
    with pytest.raises(ConfigError) as info:
        InfiniticWorker.from_config_file(path)
    _check(info.value, str(path), key, fragment)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("services: [oops\n", "not valid YAML"),
        ("just a string\n", "the top level: expected a mapping of worker settings"),
        (
            "- a\n- b\n",
            "the top level: expected a mapping of worker settings (name, services, ...), got list",
        ),
    ],
    ids=["invalid-yaml", "scalar", "list"],
)
def test_files_that_are_not_a_config(text: str, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "infinitic.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        InfiniticWorker.from_config_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert fragment in str(info.value)


def test_a_good_config_still_loads() -> None:
    # the checks above refuse the bad, not the good: the same entries, valid, build a worker
    worker = InfiniticWorker.from_config(
        {**svc(concurrency=2, retry={"maximumRetries": 0}), **wf(stateCacheSize=0)}
    )
    worker.close()


@pytest.mark.parametrize(
    ("storage", "key"),
    [
        ({"sqlite": {"pth": "state.db"}}, "storage.sqlite.pth"),
        ({"inMemory": {"size": 1}}, "storage.inMemory"),
    ],
)
def test_unknown_storage_options_name_the_file_at_start(
    storage: dict[str, Any], key: str, tmp_path: Path
) -> None:
    path = tmp_path / "infinitic.yml"
    workflows = [{"name": "Basic", "class": "tests.sample_workflows.BasicWorkflowImpl"}]
    path.write_text(yaml.safe_dump({"name": "w", "storage": storage, "workflows": workflows}))
    worker = InfiniticWorker.from_config_file(path)
    with pytest.raises(ConfigError) as caught:
        worker.start()
    assert str(caught.value).startswith(f"{path}: {key}")
    with pytest.raises(RuntimeError, match="not started"):
        worker.client  # noqa: B018 - nothing was left half started
