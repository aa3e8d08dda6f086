"""Services and workflows over a real Pulsar broker."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from infinitic import InfiniticClient, InfiniticWorker, TaskFailedError
from tests import sample_services as s
from tests import sample_workflows as sw
from tests.helpers import SERVICES, WORKFLOWS
from tests.workflow_probe import probe_for, wait_until_waiting, waits_after_signals

pytestmark = pytest.mark.pulsar
WAIT = 60


def worker_config(
    transport: dict[str, Any], storage: Any = "inMemory", name: str = "pulsar-worker"
) -> dict[str, Any]:
    return {
        "name": name,
        "transport": transport,
        "storage": storage,
        "services": SERVICES
        + [{"name": "Flaky", "class": "tests.sample_services.FlakyServiceImpl"}],
        "workflows": WORKFLOWS,
    }


@pytest.fixture(autouse=True)
def _reset() -> None:
    s.RUNS.clear()
    sw.GATES.clear()


def test_tasks_retries_and_timeouts_over_pulsar(pulsar_transport: dict[str, Any]) -> None:
    with InfiniticWorker.from_config(worker_config(pulsar_transport)) as worker:
        client = worker.client
        echo = client.new_service(s.EchoService, tags={"t"}, meta={"k": b"v"})
        assert echo.echo("over pulsar") == "over pulsar"
        handles = [client.dispatch(echo.add, i, i) for i in range(100)]
        assert [h.result(timeout=WAIT) for h in handles] == [2 * i for i in range(100)]
        flaky = client.new_service(s.FlakyService)
        assert flaky.fail(2, "x") == 2  # two retries through delayed delivery
        with pytest.raises(TaskFailedError):
            flaky.always()


def test_workflows_over_pulsar(pulsar_transport: dict[str, Any]) -> None:
    with InfiniticWorker.from_config(worker_config(pulsar_transport)) as worker:
        probe_for(worker)
        client = worker.client
        basic = client.new_workflow(sw.BasicWorkflow)
        assert basic.sequential(4) == 6
        assert basic.parallel(10) == [2 * i for i in range(10)]
        assert basic.with_timer(0.5) == "fired True"  # a timer is a delayed message
        assert basic.child(3) == 1003
        handle = client.dispatch(client.new_workflow(sw.LoyaltyWorkflow).start, 50)
        stub = client.get_workflow_by_id(sw.LoyaltyWorkflow, handle.id)
        for received, points in enumerate((20, 30)):
            wait_until_waiting(worker, stub, waits_after_signals(received))
            stub.points.send(points)
        assert handle.result(timeout=WAIT) == 50


def test_two_workers_share_the_load(pulsar_transport: dict[str, Any], tmp_path: Path) -> None:
    storage = {"sqlite": {"path": str(tmp_path / "shared.db")}}
    ran_on: set[str] = set()
    lock = threading.Lock()
    original = sw.MathServiceImpl.add

    def add(self: Any, a: int, b: int) -> int:
        from infinitic import task

        with lock:
            ran_on.add(task.worker_name)
        return original(self, a, b)

    sw.MathServiceImpl.add = add  # type: ignore[method-assign]
    try:
        with (
            InfiniticWorker.from_config(worker_config(pulsar_transport, storage, "w1")) as w1,
            InfiniticWorker.from_config(worker_config(pulsar_transport, storage, "w2")),
        ):
            client = w1.client
            flow = client.new_workflow(sw.BasicWorkflow)
            handles = [client.dispatch(flow.sequential, 3) for _ in range(40)]
            assert [h.result(timeout=WAIT) for h in handles] == [3] * 40
    finally:
        sw.MathServiceImpl.add = original  # type: ignore[method-assign]
    assert ran_on == {"w1", "w2"}


def test_client_without_worker_and_dead_letters(pulsar_transport: dict[str, Any]) -> None:
    import pulsar

    settings = pulsar_transport["pulsar"]
    topic = "persistent://{tenant}/{namespace}/task-executor:Echo-dlq".format(**settings)
    raw = pulsar.Client(settings["brokerServiceUrl"])
    try:
        with InfiniticWorker.from_config(worker_config(pulsar_transport)) as worker:
            client = InfiniticClient.from_config({"name": "lonely", "transport": pulsar_transport})
            try:
                transport = worker.transport
                worker.client._runtime.run(transport.send("task-executor:Echo", b"garbage"))
                assert client.new_service(s.EchoService).echo("still there") == "still there"
            finally:
                client.close()
            # the garbage went to the dead-letter topic with its reason (read while the worker
            # runs: it may still be sending it)
            reader = raw.create_reader(topic, pulsar.MessageId.earliest)
            message = reader.read_next(timeout_millis=30_000)
            assert message.data() == b"garbage"
            assert "undecodable envelope" in message.properties()["reason"]
    finally:
        raw.close()
