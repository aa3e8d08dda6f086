"""Config validation: every error names the file, the key and what to do."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from infinitic import ConfigError, InfiniticWorker
from infinitic._core.backoff import ExponentialBackoff
from infinitic.config import load_config, load_config_file

GOOD = {
    "name": "w",
    "transport": "inMemory",
    "storage": {"sqlite": {"path": "x.db"}},
    "services": [
        {
            "name": "Echo",
            "class": "tests.sample_services.EchoServiceImpl",
            "concurrency": 3,
            "timeoutInSeconds": 2.5,
            "retry": {"maximumRetries": 4, "minimumSeconds": 2, "ignoredExceptions": ["KeyError"]},
        }
    ],
}


def test_good_config_is_parsed() -> None:
    cfg = load_config(GOOD)
    svc = cfg.services[0]
    assert (cfg.name, cfg.transport, cfg.storage, cfg.storage_options) == (
        "w",
        "inMemory",
        "sqlite",
        {"path": "x.db"},
    )
    assert (svc.concurrency, svc.timeout_seconds) == (3, 2.5)
    assert svc.retry is not None
    policy = ExponentialBackoff(**dataclasses.asdict(svc.retry))  # as the worker builds it
    assert (policy.maximum_retries, policy.minimum_seconds, policy.maximum_seconds) == (
        4,
        2.0,
        2000.0,
    )
    assert policy.get_seconds_before_retry(0, KeyError()) is None


def _with_service(**changes: Any) -> dict[str, Any]:
    entry = dict(GOOD["services"][0])  # type: ignore[index]
    entry.update(changes)
    return {**GOOD, "services": [entry]}


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"nmae": "x"}, "nmae: unknown key; did you mean 'name'?"),
        ({"transport": "kafka"}, "transport: unknown transport 'kafka'"),
        ({"storage": "postgres"}, "storage: unknown storage 'postgres'"),
        ({"services": {"name": "x"}}, "services: expected a list"),
        (
            _with_service(concurency=2),
            "services[0].concurency: unknown key; did you mean 'concurrency'?",
        ),
        (_with_service(concurrency=0), "services[0].concurrency: must be greater than 0"),
        (_with_service(concurrency="4"), "services[0].concurrency: expected an integer"),
        (
            _with_service(timeoutInSeconds=-1),
            "services[0].timeoutInSeconds: must be greater than 0",
        ),
        (_with_service(retry={"maximumSeconds": 0.5}), "services[0].retry: "),
        (_with_service(retry={"randomFactor": 2}), "randomFactor"),
        (_with_service(retry={"backoffCoefficient": 0.5}), "backoffCoefficient"),
        (
            _with_service(retry={"ignoredExceptions": "KeyError"}),
            "ignoredExceptions: expected a list",
        ),
        (_with_service(retry={"maxRetries": 1}), "did you mean 'maximumRetries'?"),
        ({"services": [{"class": "a.B"}]}, "services[0].name: missing"),
        (
            {"workflows": [{"name": "W", "checkMode": "loose"}]},
            "workflows[0].checkMode: must be one of",
        ),
        ({"services": [{"name": "A"}, {"name": "A"}]}, "services: 'A' is declared twice"),
    ],
)
def test_bad_config_names_the_key(config: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config, source="my.yml")
    assert str(info.value).startswith("my.yml: ")
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("class_path", "fragment"),
    [
        ("NoDots", "is not a class path"),
        ("tests.no_such_module.X", "cannot import module 'tests.no_such_module'"),
        ("tests.sample_services.Missing", "has no 'Missing'"),
        ("tests.sample_services.RUNS", "is a list, not a class"),
        ("tests.sample_services.Color", "has no public method: it is not a service"),
    ],
)
def test_bad_class_paths(class_path: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match="services\\[0\\].class") as info:
        InfiniticWorker.from_config({"services": [{"name": "Echo", "class": class_path}]})
    assert fragment in str(info.value)


def test_service_name_must_match_the_class() -> None:
    with pytest.raises(ConfigError, match="is named 'Echo'"):
        InfiniticWorker.from_config(
            {"services": [{"name": "Other", "class": "tests.sample_services.EchoServiceImpl"}]}
        )


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "infinitic.yml"
    path.write_text(
        "name: from-file\nservices:\n  - name: Echo\n    class: tests.sample_services.EchoServiceImpl\n"
    )
    assert load_config_file(path).services[0].name == "Echo"
    path.write_text("services:\n  - name: Echo\n    concurrency: many\n")
    with pytest.raises(ConfigError, match=f"{path}: services\\[0\\].concurrency"):
        load_config_file(path)
    path.write_text("services: [oops\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "missing.yml")
