"""What the fault-injection tests run: a recording service, a workflow with tasks, timers and
signals, a transport that delivers every message twice, worker processes, and the checks
that read the final states back from storage."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml

from infinitic import Channel, InfiniticClient, Workflow, name, retry, task, timeout
from infinitic.common import messages as m
from infinitic.common import workflow_messages as w
from infinitic.engines.workflow_engine import stored
from infinitic.storage import create_storage
from infinitic.transport.base import Handler, Transport

ROOT = Path(__file__).resolve().parents[2]
RECORD_ENV = "INFINITIC_FAULTS_RECORD"  # file each task execution appends a line to

# -- the service: every execution leaves a line (task id, retry index, retry sequence, pid) --


def _record(step: str) -> None:
    path = os.environ.get(RECORD_ENV)
    if not path:
        return
    line = f"{task.task_id} {task.retry_index} {task.retry_sequence} {os.getpid()} {step}\n"
    # one small O_APPEND write is atomic, so processes killed mid-run never tear a line
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@name("FaultService")
class FaultService:
    def step(self, value: int, step: int) -> int: ...
    def ping_back(self, value: int) -> int: ...


class FaultServiceImpl(FaultService):
    def step(self, value: int, step: int) -> int:
        _record(f"step{step}")
        return value + step

    def ping_back(self, value: int) -> int:
        """Sends `value` to the calling workflow's `go` channel, whose receive is recorded."""
        _record("ping")
        assert task.workflow_id is not None and task.client is not None
        target = task.client.get_workflow_by_id(FaultWorkflow, task.workflow_id)
        target.go.send(value)
        return value


@name("FaultWorkflow")
class FaultWorkflow(Workflow):
    go = Channel[int]()

    def run(self, value: int, mode: str) -> int: ...


class FaultWorkflowImpl(FaultWorkflow):
    """Three tasks; `timer` waits in between, `signal` gets its first value through a signal."""

    def run(self, value: int, mode: str) -> int:
        svc = self.new_service(FaultService)
        if mode == "signal":
            received = self.go.receive()  # recorded before the task that sends to it
            svc.ping_back(value)
            total = received.result()
        else:
            total = svc.step(value, 1)
        if mode == "timer":
            self.timer(timedelta(seconds=0.3)).result()
        total = svc.step(total, 2)
        return svc.step(total, 3)


MODES = ("plain", "timer", "signal")


def mode_of(i: int) -> str:
    return MODES[i % len(MODES)]


def expected(i: int) -> int:
    return i + (5 if mode_of(i) == "signal" else 6)


def fault_config(
    transport: Any, storage: Any, *, worker: str = "faults", concurrency: int = 8
) -> dict[str, Any]:
    return {
        "name": worker,
        "transport": transport,
        "storage": storage,
        "services": [
            {
                "name": "FaultService",
                "class": "tests.faults.fault_apps.FaultServiceImpl",
                "concurrency": concurrency,
            }
        ],
        "workflows": [
            {
                "name": "FaultWorkflow",
                "class": "tests.faults.fault_apps.FaultWorkflowImpl",
                "concurrency": concurrency,
            }
        ],
    }


# -- failures to recover from: a service and a workflow, each with a fixed version -----------


@name("Fragile")
class FragileService:
    def hang(self, key: str) -> str: ...
    def flaky(self, key: str) -> str: ...
    def echo(self, value: int) -> int: ...


class FragileServiceImpl(FragileService):
    @timeout(seconds=0.3)
    @retry(minimum_seconds=0.05, random_factor=0.0, maximum_retries=1)
    def hang(self, key: str) -> str:
        _record("hang")
        threading.Event().wait(2.0)  # past the timeout; bounded, so a closing worker can join
        return "late"

    @retry(minimum_seconds=0.05, random_factor=0.0, maximum_retries=2)
    def flaky(self, key: str) -> str:
        _record("flaky")
        raise ConnectionError(f"{key} is down (attempt {task.retry_index})")

    def echo(self, value: int) -> int:
        return value


class FragileServiceFixed(FragileServiceImpl):
    def hang(self, key: str) -> str:
        _record("hang")
        return f"{key} answered"

    def flaky(self, key: str) -> str:
        _record("flaky")
        return f"{key} up at retry {task.retry_index}, sequence {task.retry_sequence}"


@name("FragileFlow")
class FragileFlow(Workflow):
    def hanging(self) -> str: ...
    def flaky(self) -> str: ...
    def buggy(self, n: int) -> int: ...
    def evolving(self) -> int: ...


class FragileFlowImpl(FragileFlow):
    def hanging(self) -> str:
        return self.new_service(FragileService).hang("h")

    def flaky(self) -> str:
        return self.new_service(FragileService).flaky("db")

    def buggy(self, n: int) -> int:
        first = self.new_service(FragileService).echo(100)
        return first // n  # a bug in the workflow's own code when n == 0

    def evolving(self) -> int:
        svc = self.new_service(FragileService)
        first = svc.echo(1)
        self.timer(timedelta(seconds=3600)).result()
        return first + svc.echo(2)


class FragileFlowChanged(FragileFlowImpl):
    """A non-deterministic change: a task where running instances have a timer."""

    def evolving(self) -> int:
        svc = self.new_service(FragileService)
        return svc.echo(1) + svc.echo(5)


class FragileFlowFixed(FragileFlowImpl):
    def buggy(self, n: int) -> int:
        first = self.new_service(FragileService).echo(100)
        return first // (n or 1)


def fragile_config(
    transport: Any, storage: Any, service: str, workflow: str, *, worker: str = "fragile"
) -> dict[str, Any]:
    here = "tests.faults.fault_apps"
    return {
        "name": worker,
        "transport": transport,
        "storage": storage,
        "services": [{"name": "Fragile", "class": f"{here}.{service}", "concurrency": 4}],
        "workflows": [{"name": "FragileFlow", "class": f"{here}.{workflow}"}],
    }


# -- a transport that delivers every message twice -----------------------------------------


class DuplicatingTransport(Transport):
    """Sends every message twice: the copy right after, or `lag` seconds later every other
    time (so a copy also arrives once the state moved on). Counts the copies by type."""

    def __init__(self, inner: Transport, lag: float = 0.0) -> None:
        self.inner = inner
        self.lag = lag
        self.duplicated: Counter[str] = Counter()
        self._sent = 0

    def __getattr__(self, attribute: str) -> Any:
        if attribute == "send_nowait":  # the client's shortcut would bypass send()
            raise AttributeError(attribute)
        return getattr(self.inner, attribute)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def send(
        self, topic: str, payload: bytes, *, key: str | None = None, delay: float = 0.0
    ) -> None:
        await self.inner.send(topic, payload, key=key, delay=delay)
        self._sent += 1
        lag = self.lag if self._sent % 2 else 0.0
        await self.inner.send(topic, payload, key=key, delay=delay + lag)
        self.duplicated[type(m.decode(payload)).__name__] += 1

    async def subscribe(
        self, topic: str, handler: Handler, *, keyed: bool = False, concurrency: int = 1
    ) -> None:
        await self.inner.subscribe(topic, handler, keyed=keyed, concurrency=concurrency)

    async def dead_letter(self, topic: str, payload: bytes, reason: str) -> None:
        await self.inner.dead_letter(topic, payload, reason)


# -- what a client saw -----------------------------------------------------------------------


class OutcomeCounter:
    """Counts the outcome messages a client received per workflow id, and per awaited method
    run the handles that waited (`registered`) and those an outcome reached (`delivered`)."""

    def __init__(self, client: InfiniticClient) -> None:
        self.received: Counter[str] = Counter()
        self.registered: Counter[tuple[str, str]] = Counter()
        self.delivered: Counter[tuple[str, str]] = Counter()
        on_response, expect = client._on_workflow_response, client._expect

        def counting(msg: Any) -> None:
            if not isinstance(msg, w.MethodOutcome):
                on_response(msg)
                return
            key = (msg.workflow_id, msg.method_run_id)
            self.received[msg.workflow_id] += 1
            waiting = [f for f, _ in client._waiting.get(key, []) if not f.done()]
            on_response(msg)
            self.delivered[key] += sum(1 for future in waiting if future.done())

        def expecting(workflow_id: str, run_id: str, return_type: Any) -> Any:
            self.registered[(workflow_id, run_id)] += 1
            return expect(workflow_id, run_id, return_type)

        client._on_workflow_response = counting  # type: ignore[method-assign]
        client._expect = expecting  # type: ignore[method-assign]

    def duplicates(self) -> int:
        """Outcome messages beyond the first per workflow id (dropped by the client)."""
        return sum(n - 1 for n in self.received.values() if n > 1)


def poll_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Polls an observable condition, bounded in time and in count; fails naming `what`."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 1):
        if condition():
            return
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    if not condition():
        raise AssertionError(f"{what} (after {timeout:g}s)")


# -- worker processes ----------------------------------------------------------------------


@dataclass
class WorkerProcesses:
    """`python -m infinitic worker` processes on one config; each logs to its own file (a
    pipe nobody reads would block a worker that logs a lot)."""

    config_file: Path
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0

    def start(self, timeout: float = 90.0) -> subprocess.Popen[bytes]:
        self.started += 1
        log_file = self.log_dir / f"worker-{self.started}.log"
        with log_file.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "infinitic", "worker", "-c", str(self.config_file)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), **self.env},
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        self.procs.append(proc)  # stopped by stop_all whatever happens next
        try:
            poll_until(
                lambda: proc.poll() is not None or b"started" in log_file.read_bytes(),
                timeout,
                f"worker {self.started} did not start",
            )
            assert proc.poll() is None, f"worker {self.started} exited"
        except AssertionError as exc:
            tail = log_file.read_bytes()[-4000:].decode(errors="replace")
            raise AssertionError(f"{exc}:\n{tail}") from None
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.alive():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(config)))
    return path


# -- reading the final states back -------------------------------------------------------


def read_states(storage: Any, workflow_name: str, ids: Iterable[str]) -> dict[str, Any]:
    """The stored state of each id (None when missing), read with a storage of its own."""

    async def read() -> dict[str, Any]:
        store = create_storage(storage)
        await store.start()
        try:
            found: dict[str, Any] = {}
            for workflow_id in ids:
                loaded = await stored.load(store, f"workflow.state:{workflow_name}:{workflow_id}")
                found[workflow_id] = loaded[0] if loaded else None
            return found
        finally:
            await store.close()

    return asyncio.run(read())


def settled_states(storage: Any, workflow_name: str, ids: list[str], timeout: float = 60) -> Any:
    """The states once all are saved as completed (or the timeout passed): an engine tells the
    client before it saves, so a state read right after a result may lag it briefly."""
    found: dict[str, Any] = {}

    def settled() -> bool:
        found.update(read_states(storage, workflow_name, ids))
        return all(s is not None and s.status == "completed" for s in found.values())

    try:
        poll_until(settled, timeout, "states not all saved as completed", interval=0.2)
    except AssertionError:
        pass  # the audit names what is not completed
    return found


@dataclass
class StateAudit:
    """What the final states say: tasks completed, and any result applied twice."""

    workflows: int = 0
    not_completed: list[str] = field(default_factory=list)
    task_commands: int = 0
    tasks_not_completed_once: list[str] = field(default_factory=list)
    applied_twice: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return self.not_completed + self.tasks_not_completed_once + self.applied_twice


def audit_states(
    states: Mapping[str, Any], task_statuses: Iterable[str] = ("completed",)
) -> StateAudit:
    """Each task command reached its outcome once (one of `task_statuses`); no duplicate in a
    history.

    Every outcome the engine applies moves the event index by one (a signal too; a manual retry
    follows a failure, so it counts one more), so a state whose event index exceeds the outcomes
    it holds has applied one twice. Signal-sends and inline steps are recorded done by the
    replay itself, without an event."""
    allowed = set(task_statuses)
    audit = StateAudit(workflows=len(states))
    for workflow_id, state in states.items():
        if state is None or state.status != "completed":
            status = "missing" if state is None else state.status
            audit.not_completed.append(f"{workflow_id}: {status}")
            continue
        events = 0
        for run in state.method_runs:
            ids = [c.command_id for c in run.commands]
            positions = [c.position for c in run.commands]
            if len(set(ids)) != len(ids) or len(set(positions)) != len(positions):
                audit.applied_twice.append(f"{workflow_id}: a command recorded twice")
            seen_at: list[int] = []
            for cmd in run.commands:
                if cmd.kind == "task":
                    audit.task_commands += 1
                    if cmd.status not in allowed:
                        audit.tasks_not_completed_once.append(f"{cmd.command_id}: {cmd.status}")
                    events += cmd.retry_sequence
                if cmd.kind == "receive":
                    pairs = orjson.loads(cmd.result) if cmd.result else []
                    events += len(pairs)
                    seen_at += [int(p[0]) for p in pairs]
                    signal_ids = [p[2] for p in pairs if len(p) > 2]
                    if len(set(signal_ids)) != len(signal_ids):
                        audit.applied_twice.append(f"{workflow_id}: a signal received twice")
                elif cmd.kind not in ("signal", "inline") and cmd.completed_at >= 0:
                    events += 1
                    seen_at.append(cmd.completed_at)
            if len(set(seen_at)) != len(seen_at):
                audit.applied_twice.append(f"{workflow_id}: two outcomes at one event")
        if state.event_index != events:
            audit.applied_twice.append(
                f"{workflow_id}: event index {state.event_index} for {events} outcomes"
            )
    return audit


def executions(record: Path) -> Counter[str]:
    """Executions per task id, from the service's record file."""
    counts: Counter[str] = Counter()
    if record.exists():
        for line in record.read_text().splitlines():
            if line.strip():
                counts[line.split()[0]] += 1
    return counts


# -- a load of workflows through a fault -----------------------------------------------------


def robust_transport(pulsar_transport: Mapping[str, Any]) -> dict[str, Any]:
    """The test namespace, with room for the redeliveries that faults cause (each kill hands a
    worker's unacknowledged messages to the others again; each failed handling is one)."""
    transport = copy.deepcopy(dict(pulsar_transport))
    transport["pulsar"]["consumer"]["maxRedeliverCount"] = 200
    return transport


def redis_storage(redis_server: Any) -> dict[str, Any]:
    options = {k: v for k, v in redis_server.storage_options().items() if v is not None}
    return {"redis": {**options, "keyPrefix": f"f{uuid.uuid4().hex[:8]}:"}}


def wait_all(handles: list[Any], deadline: float) -> list[Any]:
    return [h.result(timeout=max(1.0, deadline - time.monotonic())) for h in handles]


@dataclass
class LoadReport:
    results: list[Any]
    ids: list[str]
    counter: OutcomeCounter
    audit: StateAudit
    runs: Counter[str]
    elapsed: float

    def check(self, count: int) -> None:
        assert self.results == [expected(i) for i in range(count)]
        # each completion reached its handle once; copies were dropped by the client
        assert {self.counter.delivered[(i, i)] for i in self.ids} == {1}
        assert self.audit.problems() == []
        assert self.audit.task_commands == 3 * count and len(self.runs) == 3 * count

    def summary(self) -> str:
        twice = sum(1 for n in self.runs.values() if n > 1)
        return (
            f"workflows {len(self.ids)} in {self.elapsed:.1f}s: lost 0, completions seen twice 0, "
            f"results applied twice 0; task executions {sum(self.runs.values())} for "
            f"{self.audit.task_commands} tasks ({twice} ran more than once); outcome copies "
            f"dropped by the client {self.counter.duplicates()}"
        )


def run_through_fault(
    transport: Any,
    storage: Any,
    tmp_path: Path,
    count: int,
    fault: Callable[[], None],
    *,
    workers: int = 2,
    fault_after: float = 0.2,
    timeout: float = 300.0,
) -> LoadReport:
    """`count` workflows on worker processes; `fault()` runs once `fault_after` of them are
    done (the others are mid-way: tasks, timers and signals pending)."""
    record = tmp_path / "executions.txt"
    procs = WorkerProcesses(
        write_config(tmp_path / "worker.yml", fault_config(transport, storage)),
        tmp_path,
        env={RECORD_ENV: str(record)},
    )
    client: InfiniticClient | None = None
    started = time.monotonic()
    try:
        for _ in range(workers):
            procs.start()
        client = InfiniticClient.from_config({"name": "fault-client", "transport": transport})
        counter = OutcomeCounter(client)
        flow = client.new_workflow(FaultWorkflow)
        handles = [client.dispatch(flow.run, i, mode_of(i)) for i in range(count)]
        deadline = time.monotonic() + timeout
        poll_until(
            lambda: sum(h.done() for h in handles) >= count * fault_after,
            timeout,
            "the workflows did not get going",
        )
        fault()
        results = wait_all(handles, deadline)
        ids = [h.id for h in handles]
        states = settled_states(storage, "FaultWorkflow", ids)  # read while workers still run
        dead = [p.pid for p in procs.procs if p.poll() is not None]
        assert not dead, f"worker processes died in the fault: {dead}"
    finally:
        if client is not None:
            client.close()
        procs.stop_all()
    return LoadReport(
        results,
        ids,
        counter,
        audit_states(states),
        executions(record),
        time.monotonic() - started,
    )
