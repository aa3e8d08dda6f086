"""Fixtures of the fault suites: a Pulsar broker of a test's own, to stop and start again."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


@dataclass
class PrivateBroker:
    """A standalone broker with its data in `data_dir`; `restart()` stops it and starts it
    again on the same data and ports, so clients see an outage, then the same broker."""

    data_dir: Path
    url: str = ""
    admin_url: str = ""

    def start(self, *ports: str) -> None:
        args = ["--free-ports", "--wipe"] if not ports else ["--broker-port", ports[0]]
        if ports:
            args += ["--web-port", ports[1]]
        started = subprocess.run(
            [str(SCRIPTS / "start-pulsar"), *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if started.returncode != 0:
            pytest.fail(f"scripts/start-pulsar failed:\n{started.stderr[-4000:]}")
        values = dict(line.split("=", 1) for line in started.stdout.split() if "=" in line)
        url, admin = values["INFINITIC_PULSAR_URL"], values["INFINITIC_PULSAR_ADMIN_URL"]
        if self.url:
            assert (url, admin) == (self.url, self.admin_url), "the broker came back elsewhere"
        self.url, self.admin_url = url, admin

    def stop(self) -> None:
        subprocess.run(
            [str(SCRIPTS / "stop-pulsar"), "--data-dir", str(self.data_dir)],
            capture_output=True,
            timeout=180,
            check=False,
        )

    def restart(self) -> None:
        self.stop()
        self.start(self.url.rsplit(":", 1)[1], self.admin_url.rsplit(":", 1)[1])

    def transport(self) -> dict[str, Any]:
        return {
            "pulsar": {
                "brokerServiceUrl": self.url,
                "webServiceUrl": self.admin_url,
                "tenant": "infinitic-tests",
                "namespace": f"r-{uuid.uuid4().hex[:10]}",
                # room for the redeliveries of an outage (each failed handling is one)
                "consumer": {"negativeAckRedeliveryDelaySeconds": 0.5, "maxRedeliverCount": 200},
            }
        }


@pytest.fixture
def private_pulsar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    if os.environ.get("INFINITIC_PULSAR_URL"):
        pytest.skip("restarting the broker needs one started here, not INFINITIC_PULSAR_URL")
    if not (shutil.which("java") and shutil.which("mvn")):
        if os.environ.get("INFINITIC_REQUIRE_SERVERS", "") not in ("", "0"):
            pytest.fail("a private broker is required but Java or Maven is missing")
        pytest.skip("no Java/Maven to start a broker")
    broker = PrivateBroker(tmp_path_factory.mktemp("pulsar"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
