"""A server restarts mid-run under workflows on worker processes over a real Pulsar broker:
Redis, MariaDB (killed: a crash), and the broker itself. Every workflow completes, once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import PrivateBroker
from tests.faults.fault_apps import redis_storage, robust_transport, run_through_fault

COUNT = int(os.environ.get("INFINITIC_FAULTS_RESTART_WORKFLOWS", "300"))
# run_through_fault waits up to 300 s for the workflows, a broker restart up to minutes, and the
# worker processes up to 90 s each to stop: pytest's default 120 s cut loaded runs short (once
# while the workers were being stopped), before the test's own deadlines could say what was slow
pytestmark = pytest.mark.timeout(900)


@pytest.mark.pulsar
@pytest.mark.redis
@pytest.mark.slow
def test_redis_restarts_under_workflows_on_pulsar_workers(
    pulsar_transport: dict[str, Any], redis_server_factory: Any, tmp_path: Path
) -> None:
    server = redis_server_factory()
    report = run_through_fault(
        robust_transport(pulsar_transport),
        redis_storage(server),
        tmp_path,
        COUNT,
        lambda: server.restart(down_seconds=2.0),
    )
    report.check(COUNT)
    print(f"Redis restarted once (2 s down): {report.summary()}")


@pytest.mark.pulsar
@pytest.mark.mysql
@pytest.mark.slow
def test_mariadb_crashes_and_restarts_under_workflows_on_pulsar_workers(
    pulsar_transport: dict[str, Any], mysql_private_server: Any, tmp_path: Path
) -> None:
    server = mysql_private_server
    report = run_through_fault(
        robust_transport(pulsar_transport),
        {"mysql": server.endpoint.options()},
        tmp_path,
        COUNT,
        lambda: server.restart(kill=True, down_seconds=2.0),
    )
    report.check(COUNT)
    print(f"MariaDB killed and restarted once (2 s down): {report.summary()}")


@pytest.mark.pulsar
@pytest.mark.redis
@pytest.mark.slow
def test_pulsar_broker_restarts_under_workflows(
    private_pulsar: PrivateBroker, redis_server: Any, tmp_path: Path
) -> None:
    report = run_through_fault(
        private_pulsar.transport(),
        redis_storage(redis_server),
        tmp_path,
        COUNT,
        private_pulsar.restart,  # same data dir and ports: topics, backlogs, timers kept
    )
    report.check(COUNT)
    print(f"Pulsar broker stopped and started again once: {report.summary()}")
