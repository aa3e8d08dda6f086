"""Engine messages of one workflow ("wf" of workflow "W") that engine tests feed by hand."""

from __future__ import annotations

import orjson

from infinitic.common import messages as m
from infinitic.common import workflow_messages as w


def fan_out(task_id: str, n: int) -> bytes:
    """The workflow task `task_id` reports `n` task commands c0..c<n-1>, waited on all at once."""
    commands = [w.Command(f"c{i}", i, "task", "S", "m", b"[]") for i in range(n)]
    tree = ["all", [["c", i] for i in range(n)]]
    return m.encode(
        w.WorkflowTaskCompleted(
            "wtc",
            "wf",
            "W",
            "wf",
            task_id,
            "waiting",
            commands,
            [w.Step(n, "s", orjson.dumps(tree))],
        )
    )


def task_done(i: int, message_id: str = "", output: bytes | None = None) -> bytes:
    """Task command c<i> completed (output: its number, as JSON, unless given)."""
    return m.encode(
        m.TaskCompleted(
            message_id or f"r{i}",
            f"c{i}",
            "S",
            "m",
            str(i).encode() if output is None else output,
            workflow_id="wf",
            workflow_name="W",
            method_run_id="wf",
        )
    )
