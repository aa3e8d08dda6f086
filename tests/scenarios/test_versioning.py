"""Catalog §N: versioning (Infinitic's `VersionedWorkflowTests`), on each home; and what the
catalog does not test: a running instance keeps the version it started with."""

from __future__ import annotations

import orjson

from infinitic import InfiniticClient
from infinitic.common import workflow_messages as w
from infinitic.executors.workflow_task import WorkflowRegistration, WorkflowTaskExecutor
from tests.scenarios.areas.versioning import (
    VersionedWorkflow,
    VersionedWorkflowImpl,
    VersionedWorkflowImpl_1,
    _name,
)
from tests.scenarios.conftest import Home

RESULT_TIMEOUT = 30


def test_dispatch_uses_the_last_version(home: Home, client: InfiniticClient) -> None:
    """N1 `Dispatch workflow should use last version`: with `classes: [Impl, Impl_1]`, a new
    instance runs version 1 (on the async home, the twin of version 1)."""
    expected = home.implementation(VersionedWorkflowImpl_1)
    assert client.new_workflow(VersionedWorkflow).run() == expected


def _task(meta: dict[str, bytes]) -> w.ExecuteWorkflowTask:
    name = _name(VersionedWorkflow)
    return w.ExecuteWorkflowTask(
        "m-1", "wf-1", name, "wt-1", w.MethodRun("wf-1", "run", b"[]"), meta=meta
    )


def test_a_running_instance_keeps_its_version() -> None:
    """Beyond the catalog: the version an instance's first workflow task chose is recorded
    (reported to the engine with that task's result), and its later tasks run that version even
    once a higher one is registered."""
    versions = {0: VersionedWorkflowImpl, 1: VersionedWorkflowImpl_1}
    registration = WorkflowRegistration(VersionedWorkflowImpl_1, versions=versions)
    executor = WorkflowTaskExecutor(None, registration, worker_name="test")  # type: ignore[arg-type]
    try:
        first = executor.run(_task({}))
        assert orjson.loads(first.result) == _name(VersionedWorkflowImpl_1)
        assert first.props_store[w.VERSION_META] == b"1"
        older = executor.run(_task({w.VERSION_META: b"0", "user": b"x"}))
        assert orjson.loads(older.result) == _name(VersionedWorkflowImpl)
        assert w.VERSION_META not in older.props_store
    finally:
        executor.close()
