"""Operating a deployment: describe_workflow and list_workflows after completion, failure,
cancel and retry, on every storage (and Pulsar), and from a second process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from infinitic import InfiniticClient, InfiniticWorker, WorkflowFailedError
from infinitic.client import WorkflowInfo, WorkflowStatus
from infinitic.testing import replay
from tests import sample_workflows as sw
from tests.helpers import config, workflow_worker

WAIT = 30
ROOT = Path(__file__).resolve().parent.parent.parent
T = TypeVar("T")


def eventually(read: Callable[[], T], ok: Callable[[T], bool], timeout: float = WAIT) -> T:
    """Polls `read()` until `ok(value)`, with a deadline (the engine saves asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def ids(client: InfiniticClient, **filters: Any) -> list[str]:
    return [item.id for item in client.list_workflows(**filters).items]


def described(client: InfiniticClient, workflow_id: str, status: str) -> WorkflowInfo:
    info = eventually(
        lambda: client.describe_workflow("Basic", workflow_id),
        lambda i: i is not None and i.status == status,
    )
    assert info is not None and info.status == status, info
    return info


def test_describe_and_list_a_completed_workflow(worker: InfiniticWorker) -> None:
    client = worker.client
    tag = f"ops:{uuid.uuid4().hex}"
    handle = client.dispatch(
        client.new_workflow(sw.BasicWorkflow, tags={tag}, meta={"who": b"ops"}).sequential, 3
    )
    assert handle.result(timeout=WAIT) == 3
    info = described(client, handle.id, "completed")
    assert info.status is WorkflowStatus.COMPLETED and info.name == "Basic"
    assert info.tags == frozenset({tag}) and info.meta == {"who": b"ops"}
    assert info.started_at.tzinfo is timezone.utc
    assert info.ended_at is not None and info.started_at <= info.ended_at
    assert info.updated_at == info.ended_at
    main = info.method_runs[0]
    assert (main.id, main.method, main.status, main.args, main.result) == (
        handle.id,
        "sequential",
        "completed",
        [3],
        3,
    )
    assert [(c.kind, c.target, c.status) for c in main.commands] == [
        ("task", "Math.add", "completed")
    ] * 3
    positions = [c.position for c in main.commands]  # each await takes a position too
    assert positions == sorted(set(positions)) and positions[0] == 0
    assert [(c.args, c.result) for c in main.commands] == [([0, 0], 0), ([0, 1], 1), ([1, 2], 3)]
    for c in main.commands:  # recorded by the engine, in order
        assert c.dispatched_at is not None and c.completed_at is not None
        assert info.started_at <= c.dispatched_at <= c.completed_at <= info.ended_at
    assert [c.dispatched_at for c in main.commands] == sorted(
        c.dispatched_at for c in main.commands
    )  # type: ignore[type-var]
    assert len({c.id for c in main.commands}) == 3
    described_json = json.loads(json.dumps(info.to_json()))  # `workflow describe --json`
    # the history replays on the code that ran it, from the object or from its JSON
    replay(sw.BasicWorkflowImpl, info)
    replay(sw.BasicWorkflowImpl, described_json)
    assert described_json["history"] == info.history()
    assert ids(client, tag=tag) == [handle.id]
    assert ids(client, tag=tag, status="completed", name=sw.BasicWorkflow) == [handle.id]
    assert ids(client, tag=tag, status="running") == []
    assert client.describe_workflow(sw.BasicWorkflow, "no-such-id") is None


def test_failure_is_described_kept_and_retried(
    worker: InfiniticWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = worker.client
    tag = f"ops:{uuid.uuid4().hex}"
    handle = client.dispatch(client.new_workflow(sw.BasicWorkflow, tags={tag}).failing)
    with pytest.raises(WorkflowFailedError):
        handle.result(timeout=WAIT)
    info = described(client, handle.id, "failed")
    assert info.ended_at is None  # it waits for a retry or a cancel (DESIGN §3)
    replay(sw.BasicWorkflowImpl, json.loads(json.dumps(info.to_json())))  # as --json wrote it
    run = info.method_runs[0]
    assert run.status == "failed" and run.error is not None
    (task,) = run.commands
    assert (task.kind, task.target, task.status, task.args) == (
        "task",
        "Math.fail",
        "failed",
        ["boom"],
    )
    assert task.error is not None and task.error.name == "ValueError"
    assert task.error.message == "boom"
    listed = client.list_workflows(status="failed", tag=tag).items
    assert [(i.id, i.status, i.tags) for i in listed] == [(handle.id, "failed", frozenset({tag}))]
    # a failed instance keeps its tags (DESIGN §3)
    assert client.get_ids_by_tag(sw.BasicWorkflow, tag) == [handle.id]

    monkeypatch.setattr(sw.MathServiceImpl, "fail", lambda self, why: 42)  # fixed
    client.retry_tasks(client.get_workflow_by_id(sw.BasicWorkflow, handle.id))
    info = described(client, handle.id, "completed")
    assert info.ended_at is not None
    first_dispatch = task.dispatched_at
    (task,) = info.method_runs[0].commands
    assert (task.status, task.result, task.retries, task.error) == ("completed", 42, 1, None)
    assert first_dispatch is not None and task.dispatched_at is not None
    assert first_dispatch < task.dispatched_at  # the retry's dispatch
    assert eventually(lambda: ids(client, tag=tag, status="completed"), bool) == [handle.id]
    assert ids(client, tag=tag, status="failed") == []


def test_cancel_running_and_failed_instances(worker: InfiniticWorker) -> None:
    client = worker.client
    tag = f"ops:{uuid.uuid4().hex}"
    waiting = client.dispatch(client.new_workflow(sw.BasicWorkflow, tags={tag}).with_timer, 3600)
    failed = client.dispatch(client.new_workflow(sw.BasicWorkflow, tags={tag}).failing)
    with pytest.raises(WorkflowFailedError):
        failed.result(timeout=WAIT)
    described(client, waiting.id, "running")
    assert sorted(ids(client, tag=tag)) == sorted([waiting.id, failed.id])
    assert ids(client, tag=tag, status="running") == [waiting.id]
    for handle in (waiting, failed):
        client.cancel(client.get_workflow_by_id(sw.BasicWorkflow, handle.id))
    assert described(client, waiting.id, "canceled").ended_at is not None
    info = described(client, failed.id, "canceled")  # a failed instance can be canceled
    assert info.method_runs[0].error is not None  # its failure is still told
    listed = eventually(lambda: ids(client, tag=tag, status="canceled"), lambda x: len(x) == 2)
    assert sorted(listed) == sorted([waiting.id, failed.id])


def test_pages_are_newest_first_without_gaps(worker: InfiniticWorker) -> None:
    client = worker.client
    tag = f"ops:{uuid.uuid4().hex}"
    started = []
    for n in range(5):
        handle = client.dispatch(client.new_workflow(sw.BasicWorkflow, tags={tag}).sequential, n)
        handle.result(timeout=WAIT)
        started.append(handle.id)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = client.list_workflows(tag=tag, limit=2, cursor=cursor)
        seen += [item.id for item in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == started[::-1] and pages == 3
    with pytest.raises(ValueError, match="status must be one of"):
        client.list_workflows(status="lost")
    with pytest.raises(ValueError, match="not a cursor"):
        client.list_workflows(cursor="garbage")


def test_failed_instances_outlive_the_retention_completed_ones_do_not(tmp_path: Path) -> None:
    now = [time.time()]
    storage = {"sqlite": {"path": str(tmp_path / "state.db")}}
    tag = "ops:retention"
    with workflow_worker(storage, clock=lambda: now[0], retentionSeconds=60) as worker:
        client = worker.client
        done = client.dispatch(client.new_workflow(sw.BasicWorkflow, tags={tag}).sequential, 1)
        failed = client.dispatch(client.new_workflow(sw.BasicWorkflow, tags={tag}).failing)
        done.result(timeout=WAIT)
        with pytest.raises(WorkflowFailedError):
            failed.result(timeout=WAIT)
        described(client, failed.id, "failed")
        described(client, done.id, "completed")
        now[0] += 3600  # beyond the retention
        worker._runtime.run(worker._storage.purge_expired())  # type: ignore[union-attr]
        assert client.describe_workflow("Basic", done.id) is None
        assert client.describe_workflow("Basic", failed.id) is not None
        assert ids(client, tag=tag) == [failed.id]


SECOND_PROCESS = """
import json, sys
from infinitic import InfiniticClient
config = json.loads(sys.argv[1])
with InfiniticClient.from_config(config) as client:
    page = client.list_workflows(tag=sys.argv[2])
    info = client.describe_workflow("Basic", page.items[0].id)
    print(json.dumps([[i.to_json() for i in page.items], info.to_json()]))
"""


def test_describe_and_list_from_a_second_process(
    worker: InfiniticWorker, setup: tuple[Any, Any]
) -> None:
    transport, storage = setup
    if storage == "inMemory":
        pytest.skip("an in-memory storage is not readable from another process")
    client = worker.client
    tag = f"ops:{uuid.uuid4().hex}"
    handle = client.dispatch(client.new_workflow(sw.BasicWorkflow, tags={tag}).sequential, 2)
    handle.result(timeout=WAIT)
    described(client, handle.id, "completed")
    # on SQLite, a client of another process talks to the worker through the same file
    cfg = config(storage, "sqlite" if "sqlite" in storage else "inMemory")
    out = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS, json.dumps(cfg), tag],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    items, info = json.loads(out.stdout)
    assert [(i["id"], i["status"]) for i in items] == [(handle.id, "completed")]
    assert info["status"] == "completed" and info["method_runs"][0]["result"] == 1
    started = datetime.fromisoformat(info["started_at"])
    assert started.tzinfo is not None


def test_a_task_sees_only_its_callers_meta() -> None:
    """The engine keeps its own times in the command (reserved meta); the task never sees them."""
    config = {
        "name": "ops-meta",
        "services": [{"name": "Echo", "class": "tests.sample_services.EchoServiceImpl"}],
        "workflows": [{"name": "OpsMeta", "class": "tests.ops_app.OpsMetaImpl"}],
    }
    from tests.ops_app import OpsMeta

    with InfiniticWorker.from_config(config) as worker:
        handle = worker.client.dispatch(worker.client.new_workflow(OpsMeta).run)
        assert handle.result(timeout=WAIT)["meta"] == {"k": "v"}
        info = worker.client.describe_workflow(OpsMeta, handle.id)
        assert info is not None
        (cmd,) = info.method_runs[0].commands
        assert cmd.dispatched_at is not None and cmd.completed_at is not None
