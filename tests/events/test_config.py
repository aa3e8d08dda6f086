"""`eventListener:` and `metrics:` are validated like the rest of the config."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from infinitic import ConfigError, InfiniticWorker
from infinitic.config import load_config


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"eventListener": {"concurrency": 2}}, "eventListener.class: missing"),
        ({"eventListener": {"class": "x.Y", "concurrency": 0}}, "eventListener.concurrency: must be greater than 0"),
        ({"eventListener": {"class": "x.Y", "subscription": "s"}}, "eventListener.subscription: unknown key; did you mean 'subscriptionName'"),
        ({"eventListener": {"class": "x.Y", "services": {"allow": "A"}}}, "eventListener.services.allow: expected a list of names"),
        ({"eventListener": {"class": "x.Y", "workflows": {"deny": ["A"]}}}, "eventListener.workflows.deny: unknown key"),
        ({"metrics": {"prometheus": {"port": 70000}}}, "metrics.prometheus.port: must be at most 65535"),
        ({"metrics": {"prometheus": {"port": "9464"}}}, "metrics.prometheus.port: expected an integer"),
        ({"metrics": {"prometheus": {}, "statsd": {}}}, "metrics.statsd: unknown key"),
    ],
)  # fmt: skip
def test_bad_blocks_name_the_key(block: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^<dict>: {message}"):
        load_config({"name": "w", **block})


def test_the_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "infinitic.yml"
    path.write_text("eventListener:\n  class: tests.events.event_apps.EvTasksImpl\n")
    with pytest.raises(ConfigError, match=f"^{path}: eventListener.class: .* has no on_events"):
        InfiniticWorker.from_config_file(path)


def test_defaults_are_infinitics() -> None:
    config = load_config(
        {
            "eventListener": {"class": "tests.events.event_apps.Recorder"},
            "metrics": {"prometheus": {}},
        }
    )
    assert config.event_listener is not None and config.metrics is not None
    assert config.event_listener.concurrency == 1
    assert config.event_listener.subscription_name == "listener-subscription"
    assert config.event_listener.services.includes("Any")
    assert (config.metrics.host, config.metrics.port) == ("127.0.0.1", 9464)


def test_allow_and_disallow() -> None:
    listener = {"class": "m.C", "services": {"allow": ["A", "B"], "disallow": ["B"]}}
    config = load_config({"eventListener": listener}).event_listener
    assert config is not None
    assert [config.services.includes(n) for n in ("A", "B", "C")] == [True, False, False]
    assert config.workflows.includes("C")  # no list: every workflow


@pytest.mark.parametrize(
    ("block", "extra"),
    [({"eventListener": {"class": "m.C"}}, "events"), ({"metrics": {"prometheus": {}}}, "metrics")],
)
def test_a_missing_extra_is_named(
    block: dict[str, Any], extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("cloudevents", "prometheus_client"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(ConfigError, match=rf"pip install 'infinitic\[{extra}\]'"):
        InfiniticWorker.from_config({"name": "w", **block})
