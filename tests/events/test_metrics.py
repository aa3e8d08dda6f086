"""`/metrics`: scraped after a run, the counters say what ran."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from infinitic import ConfigError, InfiniticWorker
from tests.events.conftest import config, run_parent, until

METRICS = {"metrics": {"prometheus": {"host": "127.0.0.1", "port": 0}}}


def scrape(worker: InfiniticWorker) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    metrics = worker.observability.metrics
    assert metrics is not None and metrics.port
    url = f"http://127.0.0.1:{metrics.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], metric: str, **labels: str) -> float:
    return samples.get((metric, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_what_ran(setup: tuple[Any, Any]) -> None:
    transport, storage = setup
    with InfiniticWorker.from_config(config(transport, storage, None, **METRICS)) as worker:
        run_parent(worker)

        def counted() -> bool:
            samples = scrape(worker)
            return value(samples, "infinitic_workflows_total", workflow="EvParent",
                         transition="completed") == 1  # fmt: skip

        until(counted, "the parent's completion in the metrics")
        samples = scrape(worker)

    def tasks(service: str, task: str, outcome: str) -> float:
        return value(samples, "infinitic_tasks_total", service=service, task=task, outcome=outcome)

    assert tasks("EvTasks", "ok", "completed") == 1
    assert tasks("EvTasks", "boom", "failed") == 1
    assert tasks("EvFlaky", "flaky", "retried") == 1
    assert tasks("EvFlaky", "flaky", "completed") == 1
    assert tasks("EvTasks", "slow", "completed") == 0  # still running when scraped
    duration = "infinitic_task_duration_seconds_count"
    assert value(samples, duration, service="EvFlaky", task="flaky", outcome="retried") == 1

    def workflows(name: str, transition: str) -> float:
        return value(samples, "infinitic_workflows_total", workflow=name, transition=transition)

    assert workflows("EvParent", "started") == 1 and workflows("EvParent", "completed") == 1
    assert workflows("EvChild", "started") == 5
    assert workflows("EvChild", "completed") == 2  # echo, listen
    assert workflows("EvChild", "failed") == 1 and workflows("EvChild", "canceled") == 1
    assert value(samples, "infinitic_workflows_running", workflow="EvParent") == 0
    assert value(samples, "infinitic_workflows_running", workflow="EvChild") == 1  # stuck
    assert value(samples, "infinitic_backlog", kind="task-retry", name="EvFlaky") == 0
    # every engine's outbox is tracked, and all of it was sent
    for name in ("EvParent", "EvChild"):
        outbox = ("infinitic_backlog", (("kind", "outbox"), ("name", name)))
        assert samples.get(outbox) == 0, f"no outbox gauge for {name}"

    # the executors consumed each ExecuteTask once: ok, boom, slow; flaky twice
    def handled(topic: str) -> float:
        component = topic.split(":")[0]
        return value(samples, "infinitic_messages_handled_total", component=component,
                     topic=topic, outcome="ok")  # fmt: skip

    assert handled("task-executor:EvTasks") == 2  # ok, boom (slow's handler still runs)
    assert handled("task-executor:EvFlaky") == 2
    handling = "infinitic_message_handling_seconds_count"
    topic = "workflow-engine:EvParent"
    assert value(samples, handling, component="workflow-engine", topic=topic) == handled(topic)
    assert handled(topic) >= 12
    backend = worker.config.storage
    puts = value(samples, "infinitic_storage_operation_seconds_count", backend=backend,
                 operation="put") + value(samples, "infinitic_storage_operation_seconds_count",
                                          backend=backend, operation="put_many")  # fmt: skip
    assert puts >= handled(topic)  # each engine step saved its state


def test_a_taken_port_is_a_config_error() -> None:
    with InfiniticWorker.from_config(config("inMemory", "inMemory", None, **METRICS)) as first:
        metrics = first.observability.metrics
        assert metrics is not None
        taken = {"metrics": {"prometheus": {"host": "127.0.0.1", "port": metrics.port}}}
        second = InfiniticWorker.from_config(config("inMemory", "inMemory", None, **taken))
        with pytest.raises(ConfigError, match=r"<dict>: metrics\.prometheus: cannot serve"):
            second.start()


def test_timed_subscriptions_still_take_runs_of_one_key() -> None:
    """With metrics on, the engine's subscription is wrapped to time its handler; a run of one
    key's queued messages still reaches the engine as one run (coalescing), and each message
    is observed once."""
    import asyncio

    from infinitic.events.tap import TimedTransport
    from infinitic.transport.base import RunHandler, run_handler
    from infinitic.transport.memory import InMemoryTransport

    observed: list[float] = []
    runs: list[list[bytes]] = []

    class Observations:
        def handling(self, topic: str) -> Any:
            return observed.append, lambda: None

    class Inner(InMemoryTransport):
        handler: Any = None

        async def subscribe(self, topic: str, handler: Any, **kw: Any) -> None:
            Inner.handler = handler

    async def one(payload: bytes) -> None:
        runs.append([payload])

    async def many(payloads: list[bytes]) -> None:
        runs.append(payloads)

    async def scenario() -> None:
        timed = TimedTransport(Inner(), Observations())  # type: ignore[arg-type]
        await timed.subscribe("workflow-engine:W", RunHandler(one, many), keyed=True)
        handed = run_handler(Inner.handler, keyed=True)
        assert handed is not None, "the timed handler no longer takes runs"
        await handed([b"a", b"b", b"c"])
        await Inner.handler(b"d")

    asyncio.run(scenario())
    assert runs == [[b"a", b"b", b"c"], [b"d"]]
    assert len(observed) == 4
