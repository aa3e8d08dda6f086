"""Every message delivered twice changes nothing: the same results as without duplicates, each
task result applied once, each completion seen once by the client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from infinitic import CanceledError, InfiniticWorker, TaskFailedError, WorkflowFailedError
from infinitic.common import messages as m
from infinitic.common.workflow_messages import (
    DispatchWorkflow,
    MethodOutcome,
    WaitWorkflow,
    WorkflowState,
)
from infinitic.engines.workflow_engine import stored
from infinitic.transport.base import Transport
from infinitic.worker import worker as worker_module
from tests import sample_services as s
from tests import sample_workflows as sw
from tests.faults.fault_apps import (
    DuplicatingTransport,
    OutcomeCounter,
    audit_states,
    poll_until,
)
from tests.helpers import workflow_worker
from tests.workflow_probe import (
    probe_for,
    wait_until_waiting,
    waits_after_signals,
    waits_on_timer,
)

WAIT = 60
# every message type that flows in the scenarios below
TYPES = {
    "ExecuteTask",
    "TaskCompleted",
    "TaskFailed",
    "DispatchWorkflow",
    "DispatchMethod",
    "WaitWorkflow",
    "ExecuteWorkflowTask",
    "WorkflowTaskCompleted",
    "TimerCompleted",
    "CommandTimedOut",
    "SendSignal",
    "MethodOutcome",
    "CancelWorkflow",
    "RetryWorkflowTask",
    "RetryTasksWhere",  # clients send these (RetryTasks, CompleteTimers: older clients)
    "CompleteMethodTimers",
    "TagCommand",
    "TagIds",
    "ServiceTagCommand",
}


def scenarios(
    worker: InfiniticWorker, monkeypatch: pytest.MonkeyPatch, *, slow_tasks: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """Runs one of each kind of work; returns what each gave and the ids meant to complete."""
    client = worker.client
    probe_for(worker)
    out: dict[str, Any] = {}
    done: list[str] = []
    basic = client.new_workflow(sw.BasicWorkflow)

    def finish(label: str, handle: Any) -> None:
        out[label] = handle.result(timeout=WAIT)
        done.append(handle.id)

    sequential = [client.dispatch(basic.sequential, 3) for _ in range(10)]
    for i, handle in enumerate(sequential):
        finish(f"sequential {i}", handle)
    finish("parallel", client.dispatch(basic.parallel, 4))
    finish("children", client.dispatch(basic.children, 3))
    finish("catching", client.dispatch(basic.catching))  # a TaskFailed, caught
    finish("timer", client.dispatch(basic.with_timer, 0.05))
    if slow_tasks:
        finish("timed", client.dispatch(basic.timed))  # the stub's deadline: CommandTimedOut

    # signals, a second method run, and a signal sent by another workflow
    loyalty = client.dispatch(client.new_workflow(sw.LoyaltyWorkflow).start, 100)
    stub = client.get_workflow_by_id(sw.LoyaltyWorkflow, loyalty.id)
    out["bonus"] = stub.bonus(10)
    for received, points in enumerate((30, 30)):
        wait_until_waiting(worker, stub, waits_after_signals(received))
        stub.points.send(points)
    wait_until_waiting(worker, stub, waits_after_signals(2))
    finish("signal_other", client.dispatch(basic.signal_other, loyalty.id))
    finish("loyalty", loyalty)
    out["wait"] = client.wait(stub, timeout=WAIT)

    # tags: ids, a signal and a cancel by tag
    tagged = [
        client.dispatch(client.new_workflow(sw.LoyaltyWorkflow, tags={"dup:t"}).start, 20)
        for _ in range(2)
    ]
    for handle in tagged:
        wait_until_waiting(worker, client.get_workflow_by_id(sw.LoyaltyWorkflow, handle.id))
    out["ids"] = sorted(client.get_ids_by_tag(sw.LoyaltyWorkflow, "dup:t")) == sorted(
        h.id for h in tagged
    )
    client.get_workflow_by_tag(sw.LoyaltyWorkflow, "dup:t").points.send(20)
    for i, handle in enumerate(tagged):
        finish(f"tagged {i}", handle)
    napping = client.dispatch(client.new_workflow(sw.SleepyWorkflow, tags={"dup:nap"}).nap, 3600)
    wait_until_waiting(worker, client.get_workflow_by_id(sw.SleepyWorkflow, napping.id))
    client.cancel(client.get_workflow_by_tag(sw.SleepyWorkflow, "dup:nap"))
    with pytest.raises(CanceledError):
        napping.result(timeout=WAIT)
    out["canceled by tag"] = True

    # steering: cancel, complete timers, retry a workflow task, retry tasks
    nap = client.dispatch(client.new_workflow(sw.SleepyWorkflow).parent_of_nap, 3600)
    nap_stub = client.get_workflow_by_id(sw.SleepyWorkflow, nap.id)
    wait_until_waiting(worker, nap_stub)
    client.cancel(nap_stub)
    with pytest.raises(CanceledError):
        nap.result(timeout=WAIT)
    out["canceled"] = True
    timer = client.dispatch(client.new_workflow(sw.SleepyWorkflow).nap, 3600)
    wait_until_waiting(worker, client.get_workflow_by_id(sw.SleepyWorkflow, timer.id))
    client.complete_timers(client.get_workflow_by_id(sw.SleepyWorkflow, timer.id))
    finish("completed timers", timer)

    changing = client.dispatch(basic.changing)
    changing_stub = client.get_workflow_by_id(sw.BasicWorkflow, changing.id)
    wait_until_waiting(worker, changing_stub, waits_on_timer)
    sw.GATES["changed"] = True
    client.complete_timers(changing_stub)
    with pytest.raises(WorkflowFailedError, match="was changed since it started"):
        changing.result(timeout=WAIT)
    sw.GATES["changed"] = False
    client.retry_workflow_task(changing_stub)
    out["retried workflow task"] = client.wait(changing_stub, timeout=WAIT)
    done.append(changing.id)

    failing = client.dispatch(basic.failing)
    with pytest.raises(WorkflowFailedError):
        failing.result(timeout=WAIT)
    with monkeypatch.context() as patch:
        patch.setattr(sw.MathServiceImpl, "fail", lambda self, why: 42)
        client.retry_tasks(client.get_workflow_by_id(sw.BasicWorkflow, failing.id))
        out["retried tasks"] = client.wait(
            client.get_workflow_by_id(sw.BasicWorkflow, failing.id), timeout=WAIT
        )
    done.append(failing.id)

    # standalone tasks, with service tags, and one that fails for good
    echo = client.new_service(s.EchoService, tags={"dup:svc"})
    out["task"] = echo.echo("hello")
    with pytest.raises(TaskFailedError):
        client.new_service(sw.MathService).fail("for good")
    out["task failed"] = True
    return out, done


@contextmanager
def duplicating(
    monkeypatch: pytest.MonkeyPatch, lag: float
) -> Iterator[list[DuplicatingTransport]]:
    """Every worker (and its client) created inside gets its transport wrapped."""
    made: list[DuplicatingTransport] = []
    real: Callable[..., Transport] = worker_module.create_transport

    def wrapped(kind: str, options: Any) -> Transport:
        transport = DuplicatingTransport(real(kind, options), lag=lag)
        made.append(transport)
        return transport

    with monkeypatch.context() as patch:
        patch.setattr(worker_module, "create_transport", wrapped)
        yield made


def _states(worker: InfiniticWorker, ids: list[str]) -> dict[str, WorkflowState | None]:
    storage, runtime = worker._storage, worker._runtime
    assert storage is not None and runtime is not None
    states: dict[str, WorkflowState | None] = {}
    for workflow_id in ids:
        found = None
        for name in ("Basic", "Loyalty", "Sleepy"):
            loaded = runtime.run(stored.load(storage, f"workflow.state:{name}:{workflow_id}"))
            if loaded is not None:
                found = loaded[0]
        states[workflow_id] = found
    return states


def _run(
    monkeypatch: pytest.MonkeyPatch, transport: Any, *, duplicates: bool, lag: float = 0.0
) -> tuple[dict[str, Any], Any, OutcomeCounter | None, list[DuplicatingTransport]]:
    sw.FOREVER.clear()  # "timed" waits for its task's deadline
    if not duplicates:
        with workflow_worker("inMemory", transport=transport) as worker:
            results = scenarios(worker, monkeypatch)[0]
            sw.FOREVER.set()  # the timed-out task still runs: the worker's close would wait for it
            return results, None, None, []
    with duplicating(monkeypatch, lag) as made:
        with workflow_worker("inMemory", transport=transport) as worker:
            counter = OutcomeCounter(worker.client)
            started = time.monotonic()
            results, done = scenarios(worker, monkeypatch, slow_tasks=transport == "inMemory")
            print(f"scenarios with duplicates: {time.monotonic() - started:.1f}s")
            audit = audit_states(_states(worker, done), ("completed", "failed", "timed_out"))
            sw.FOREVER.set()
    return results, audit, counter, made


def _check(
    baseline: dict[str, Any],
    results: dict[str, Any],
    audit: Any,
    counter: OutcomeCounter,
    made: list[DuplicatingTransport],
) -> None:
    assert results == {k: v for k, v in baseline.items() if k in results}
    assert audit.problems() == [], audit.problems()
    assert audit.task_commands > 0
    duplicated = sum((t.duplicated for t in made), start=type(made[0].duplicated)())
    missing = {t for t in TYPES if duplicated[t] == 0}
    if "timed" not in results:
        missing.discard("CommandTimedOut")
    assert missing == set(), f"never duplicated: {sorted(missing)}"
    # every waiting handle got one outcome; the copies found nobody waiting and were dropped
    assert counter.delivered == counter.registered
    print(
        f"duplicated {sum(duplicated.values())} messages of {len(duplicated)} types; "
        f"workflows audited {audit.workflows}, task commands {audit.task_commands}; "
        f"outcome messages received twice and dropped by the client: {counter.duplicates()}"
    )


def test_every_message_delivered_twice_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    baseline = _run(monkeypatch, "inMemory", duplicates=False)[0]
    results, audit, counter, made = _run(monkeypatch, "inMemory", duplicates=True, lag=0.05)
    assert counter is not None
    _check(baseline, results, audit, counter, made)


@pytest.mark.pulsar
def test_every_message_delivered_twice_on_pulsar(
    monkeypatch: pytest.MonkeyPatch, pulsar_transport: dict[str, Any]
) -> None:
    baseline = _run(monkeypatch, "inMemory", duplicates=False)[0]
    results, audit, counter, made = _run(monkeypatch, pulsar_transport, duplicates=True, lag=0.2)
    assert counter is not None
    _check(baseline, results, audit, counter, made)


class _Recording(DuplicatingTransport):
    """Sends once; keeps what went to topics starting with `prefix`, to re-publish it later."""

    def __init__(self, inner: Transport, prefix: str = "response:") -> None:
        super().__init__(inner)
        self.prefix = prefix
        self.responses: list[tuple[str, bytes]] = []

    async def send(
        self, topic: str, payload: bytes, *, key: str | None = None, delay: float = 0.0
    ) -> None:
        if topic.startswith(self.prefix):
            self.responses.append((topic, payload))
        await self.inner.send(topic, payload, key=key, delay=delay)


_T = TypeVar("_T", bound=Transport)


def _wrapped(monkeypatch: pytest.MonkeyPatch, wrap: Callable[[Transport], _T]) -> list[_T]:
    """The transports of the workers made from now on, each wrapped by `wrap`."""
    made: list[_T] = []
    real: Callable[..., Transport] = worker_module.create_transport

    def wrapping(kind: str, options: Any) -> Transport:
        made.append(wrap(real(kind, options)))
        return made[-1]

    monkeypatch.setattr(worker_module, "create_transport", wrapping)
    return made


def _failed(client: Any) -> Any:
    """The handle of a BasicWorkflow.failing that failed (its task raised)."""
    failing = client.dispatch(client.new_workflow(sw.BasicWorkflow).failing)
    with pytest.raises(WorkflowFailedError):
        failing.result(timeout=WAIT)
    return failing


def _retry_and_wait(
    monkeypatch: pytest.MonkeyPatch, client: Any, workflow_id: str, release: threading.Event
) -> tuple[threading.Thread, list[Any]]:
    """Retries the failed task of BasicWorkflow.failing (the retry gives 42 once `release` is
    set) and waits on the workflow from a thread: its wait is registered on return."""
    monkeypatch.setattr(sw.MathServiceImpl, "fail", lambda self, why: release.wait(WAIT) and 42)
    stub = client.get_workflow_by_id(sw.BasicWorkflow, workflow_id)
    client.retry_tasks(stub)
    waited: list[Any] = []
    waiter = threading.Thread(target=lambda: waited.append(_outcome(client, stub)))
    waiter.start()
    poll_until(
        lambda: bool(client._waiting.get((workflow_id, workflow_id))),
        WAIT,
        "the wait was never registered",
        interval=0.01,
    )
    return waiter, waited


def _redeliver_after_retry_tasks(
    monkeypatch: pytest.MonkeyPatch, prefix: str, is_failure: Callable[[Any], bool], keyed: bool
) -> list[Any]:
    """A workflow fails on a task; `retry_tasks` retries it and a client waits; then the
    broker redelivers the first failure message (recorded on topics starting with `prefix`)
    while the retried task still runs. Returns what the wait gave."""
    made = _wrapped(monkeypatch, lambda inner: _Recording(inner, prefix=prefix))
    release = threading.Event()
    with workflow_worker("inMemory") as worker:
        client = worker.client
        failing = _failed(client)
        (transport,) = made
        [(topic, failure)] = [(t, p) for t, p in transport.responses if is_failure(m.decode(p))]
        waiter, waited = _retry_and_wait(monkeypatch, client, failing.id, release)
        key = failing.id if keyed else None
        worker._runtime.run(transport.send(topic, failure, key=key))  # type: ignore[union-attr]
        release.set()
        waiter.join(WAIT)
    return waited


def test_a_redelivered_failure_does_not_reach_a_wait_after_retry_tasks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the workflow's failed outcome, redelivered to the client
    waited = _redeliver_after_retry_tasks(
        monkeypatch,
        "response:",
        lambda msg: isinstance(msg, MethodOutcome) and msg.status == "failed",
        keyed=False,
    )
    assert waited == [42]


def _outcome(client: Any, stub: Any) -> Any:
    try:
        return client.wait(stub, timeout=WAIT)
    except Exception as exc:  # noqa: BLE001 - the test compares what the wait gave
        return exc


def test_a_redelivered_task_failure_does_not_fail_the_retried_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the first attempt's TaskFailed, redelivered to the workflow engine
    waited = _redeliver_after_retry_tasks(
        monkeypatch, "workflow-engine:", lambda msg: isinstance(msg, m.TaskFailed), keyed=True
    )
    assert waited == [42]


class _Holding(_Recording):
    """A _Recording that, while `holding`, keeps what goes to clients (`response:` topics)
    instead of sending it: a slow broker, so an answer lands when the test says."""

    def __init__(self, inner: Transport, prefix: str) -> None:
        super().__init__(inner, prefix)
        self.holding = False
        self.held: list[tuple[str, bytes]] = []

    async def send(
        self, topic: str, payload: bytes, *, key: str | None = None, delay: float = 0.0
    ) -> None:
        if self.holding and topic.startswith("response:"):
            self.held.append((topic, payload))
            return
        await super().send(topic, payload, key=key, delay=delay)


def test_a_redelivered_start_does_not_answer_a_wait_after_retry_tasks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker redelivers a workflow's start once it failed; the engine's answer to that
    copy is slow to reach the client, which meanwhile retried the task and waits again: the
    wait gets the retried task's result, not the failure from before the retry."""
    made = _wrapped(monkeypatch, lambda inner: _Holding(inner, prefix="workflow-engine:"))
    release = threading.Event()
    with workflow_worker("inMemory") as worker:
        client = worker.client
        failing = _failed(client)
        (transport,) = made
        [(topic, start)] = [
            (t, p) for t, p in transport.responses if isinstance(m.decode(p), DispatchWorkflow)
        ]
        transport.holding = True
        run = worker._runtime.run  # type: ignore[union-attr]
        run(transport.send(topic, start, key=failing.id))
        # a wait from elsewhere, behind the copy on the same key: once it is answered, the
        # engine has handled the copy too
        probe = WaitWorkflow("probe", failing.id, "Basic", None, "response:probe")
        run(transport.send(topic, m.encode(probe), key=failing.id))
        poll_until(
            lambda: any(t == "response:probe" for t, _ in transport.held),
            WAIT,
            "the probe was never answered",
            interval=0.01,
        )
        waiter, waited = _retry_and_wait(monkeypatch, client, failing.id, release)
        transport.holding = False
        for held_topic, payload in transport.held:
            if held_topic != "response:probe":
                run(transport.send(held_topic, payload))
        release.set()
        waiter.join(WAIT)
    assert waited == [42]
