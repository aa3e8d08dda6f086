"""What the event listener and the metrics cost per task and per event, without the noise of an
end-to-end run (the taps are called as the executors and engines call them).

    python -m pytest benchmarks/test_bench_events.py --benchmark-only -q

Each round handles 1,000 tasks (or builds 1,000 CloudEvents); divide the time by 1,000.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from infinitic.common import messages as m
from infinitic.common import workflow_messages as w
from infinitic.config.observability import MetricsConfig
from infinitic.engines.workflow_engine.context import StepContext
from infinitic.events.pipeline import to_cloud_event
from infinitic.events.record import Record
from infinitic.events.tap import TaskTap
from infinitic.events.workflow_tap import WorkflowTap
from infinitic.worker.metrics import Metrics

N = 1000


def everything(name: str) -> bool:
    return True


def _task(i: int) -> tuple[m.ExecuteTask, m.TaskCompleted]:
    msg = m.ExecuteTask(f"m{i}", f"t{i}", "S", "step", b"[1]", workflow_id="wf",
                        workflow_name="W", method_run_id="wf", emitted_at=time.time())  # fmt: skip
    return msg, m.TaskCompleted(f"r{i}", f"t{i}", "S", "step", b"2", emitted_at=time.time())


TASKS = [_task(i) for i in range(N)]


@pytest.mark.parametrize("listening", ["events", "metrics", "both"])
def test_task_tap(benchmark: Any, listening: str) -> None:
    """One task's start and end, as its executor reports them (events: dispatch, started,
    completed)."""
    records: list[Record] = []
    metrics = Metrics(MetricsConfig(port=0)) if listening != "events" else None
    tap = TaskTap("w", records.append if listening != "metrics" else None, everything, metrics)

    def run() -> None:
        for msg, reply in TASKS:
            tap("started", msg, None)
            tap("ended", msg, reply)
        records.clear()

    benchmark(run)


def test_workflow_tap_task_completed(benchmark: Any) -> None:
    """The engine's report of a TaskCompleted it applied to a one-run state (taskCompleted)."""
    records: list[Record] = []
    tap = WorkflowTap("w", records.append, everything, None)
    run_ = w.MethodRun("wf", "run", b"[]")
    state = w.WorkflowState("wf", "W", method_runs=[run_])
    out = StepContext(now=time.time())
    tap(w.DispatchWorkflow("d", "wf", "W", "run", b"[]"), state, out)  # known from its start
    done = [m.TaskCompleted(f"r{i}", f"t{i}", "S", "step", b"2", workflow_id="wf",
                            workflow_name="W", method_run_id="wf") for i in range(N)]  # fmt: skip

    def run() -> None:
        for msg in done:
            tap(msg, state, out)
        records.clear()

    benchmark(run)


def test_cloud_events(benchmark: Any) -> None:
    """Building the SDK's CloudEvent of a record, as the listener's thread does."""
    records: list[Record] = []
    tap = TaskTap("w", records.append, everything, None)
    for msg, _ in TASKS:
        tap("started", msg, None)
    chosen = records[:N]

    def run() -> None:
        for record in chosen:
            to_cloud_event("inMemory", record)

    benchmark(run)
