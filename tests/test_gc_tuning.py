"""`tuneGarbageCollector`: a worker sets a process's collector for throughput, unless told not
to or the application set its own. Each case runs in a fresh interpreter: the setting is the
process's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infinitic import ConfigError, InfiniticWorker

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import gc, json, sys
from infinitic import InfiniticWorker
if sys.argv[2] != "-":
    gc.set_threshold(*json.loads(sys.argv[2]))
config = {"name": "gc-probe", "services": [], "workflows": [
    {"name": "EvChild", "class": "tests.events.event_apps.EvChildImpl"}]}
if sys.argv[1] != "-":
    config["tuneGarbageCollector"] = json.loads(sys.argv[1])
with InfiniticWorker.from_config(config) as worker:
    client = worker.client
    echo = client.dispatch(client.new_workflow(__import__("tests.events.event_apps",
        fromlist=["EvChild"]).EvChild).echo, "x").result(timeout=30)
    print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(),
                      "echo": echo}))
"""


def _probe(tune: str, threshold: str = "-") -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, tune, threshold],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_a_worker_tunes_the_collector_by_default() -> None:
    found = _probe("-")
    assert found["echo"] == "x"
    assert found["threshold"] == [25_000, 20, 20]
    assert isinstance(found["frozen"], int) and found["frozen"] > 0


def test_false_leaves_the_collector_alone() -> None:
    found = _probe("false")
    assert found["threshold"] == [700, 10, 10] and found["frozen"] == 0


def test_an_application_s_own_thresholds_are_kept() -> None:
    found = _probe("true", "[1000, 15, 15]")
    assert found["threshold"] == [1000, 15, 15] and found["frozen"] == 0


def test_a_non_boolean_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="tuneGarbageCollector: expected true or false"):
        InfiniticWorker.from_config({"name": "w", "tuneGarbageCollector": "yes"})
