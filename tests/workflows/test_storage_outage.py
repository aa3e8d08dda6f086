"""A storage outage delays work, it does not drop it: the server restarts under 500 workflows."""

from __future__ import annotations

from typing import Any

import pytest

from tests import sample_workflows as sw
from tests.helpers import workflow_worker

COUNT = 500


def _run_through_restart(storage: dict[str, Any], restart: Any) -> list[int]:
    with workflow_worker(storage) as worker:
        client = worker.client
        flow = client.new_workflow(sw.DurableWorkflow)
        handles = [client.dispatch(flow.run, i, 0.2) for i in range(COUNT)]
        results = [h.result(timeout=120) for h in handles[:100]]
        restart()  # most of the others are mid-way: tasks done, timers pending, results due
        results += [h.result(timeout=300) for h in handles[100:]]
    return results


@pytest.mark.redis
@pytest.mark.slow
def test_redis_restart_in_the_middle_of_500_workflows(redis_server_factory: Any) -> None:
    server = redis_server_factory()
    options = {k: v for k, v in server.storage_options().items() if v is not None}
    results = _run_through_restart({"redis": options}, lambda: server.restart(down_seconds=1.0))
    assert results == [i + 3 for i in range(COUNT)]


@pytest.mark.mysql
@pytest.mark.slow
def test_mariadb_restart_in_the_middle_of_500_workflows(mysql_private_server: Any) -> None:
    server = mysql_private_server
    results = _run_through_restart(
        {"mysql": server.endpoint.options()}, lambda: server.restart(down_seconds=1.0)
    )
    assert results == [i + 3 for i in range(COUNT)]
