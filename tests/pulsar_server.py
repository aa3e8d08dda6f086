"""Fixtures of a real Pulsar broker for the `pulsar` tests: INFINITIC_PULSAR_URL's, or one started once per
session by scripts/start-pulsar (needs Java 17 and Maven). Without them the tests are skipped,
saying why, unless INFINITIC_REQUIRE_SERVERS=1 (CI), where they fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = os.environ.get("INFINITIC_REQUIRE_SERVERS", "") not in ("", "0")


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"Pulsar is required (INFINITIC_REQUIRE_SERVERS=1) but {reason}")
    pytest.skip(reason)


def _check_can_start() -> None:
    try:
        import pulsar  # noqa: F401
    except ImportError:
        _unavailable("pulsar-client is not installed (pip install 'infinitic[pulsar]')")
    if not (shutil.which("java") and shutil.which("mvn")):
        _unavailable("no INFINITIC_PULSAR_URL and no Java/Maven to start a broker")


@contextmanager
def started_broker(*options: str) -> Iterator[dict[str, str]]:
    """A throwaway broker of scripts/start-pulsar on free ports, given extra `options` (TLS,
    token authentication: see its --help); yields its INFINITIC_PULSAR_* values, stops it."""
    _check_can_start()
    data_dir = tempfile.mkdtemp(prefix="infinitic-pulsar-")
    started = subprocess.run(
        [
            str(ROOT / "scripts" / "start-pulsar"),
            "--free-ports",
            "--wipe",
            "--data-dir",
            data_dir,
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    try:
        if started.returncode != 0:
            pytest.fail(f"scripts/start-pulsar failed:\n{started.stderr[-4000:]}")
        yield dict(line.split("=", 1) for line in started.stdout.split() if "=" in line)
    finally:
        subprocess.run(
            [str(ROOT / "scripts" / "stop-pulsar"), "--data-dir", data_dir],
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pulsar_urls() -> Iterator[tuple[str, str]]:
    url = os.environ.get("INFINITIC_PULSAR_URL")
    if url:
        yield url, os.environ.get("INFINITIC_PULSAR_ADMIN_URL", "http://127.0.0.1:8080")
        return
    with started_broker() as values:
        yield values["INFINITIC_PULSAR_URL"], values["INFINITIC_PULSAR_ADMIN_URL"]


@pytest.fixture
def pulsar_transport(pulsar_urls: tuple[str, str]) -> dict[str, Any]:
    """A transport config on a fresh namespace, so tests never see each other's messages."""
    url, admin = pulsar_urls
    return {
        "pulsar": {
            "brokerServiceUrl": url,
            "webServiceUrl": admin,
            "tenant": "infinitic-tests",
            "namespace": f"t-{uuid.uuid4().hex[:10]}",
            "consumer": {"negativeAckRedeliveryDelaySeconds": 0.2, "maxRedeliverCount": 2},
        }
    }
