"""Catalog §L: delegated tasks (Infinitic's `DelegationWorkflowTests`), on each home."""

from __future__ import annotations

import asyncio

from infinitic import InfiniticClient
from infinitic.common import messages as m
from infinitic.engines.service_tag import ServiceTagEngine
from infinitic.storage.memory import MemoryStorage
from infinitic.transport.base import Topics
from tests.scenarios.areas.delegation import DELEGATED, DelegationWorkflow

RESULT_TIMEOUT = 30


def test_complete_a_delegated_task_with_the_client(client: InfiniticClient) -> None:
    """L1 `I can complete a delegated task with the client`: the `@delegated` task's own return
    value is ignored and it stays running; the result given by `complete_delegated_task` (with
    the service name and task id the task recorded) is what the workflow gets."""
    DELEGATED.recorded.clear()
    handle = client.dispatch(client.new_workflow(DelegationWorkflow).delegate_concat)
    assert DELEGATED.recorded.wait(RESULT_TIMEOUT)
    assert DELEGATED.service_name == "Delegation"
    assert not handle.done()
    client.complete_delegated_task(DELEGATED.service_name, DELEGATED.task_id, "success")
    assert handle.result(timeout=RESULT_TIMEOUT) == "success!"


class _Sent:
    """A transport that records what is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    async def send(self, topic: str, data: bytes, key: str | None = None, delay: float = 0) -> None:
        self.sent.append((topic, m.decode(data)))


def test_a_result_given_before_the_task_reported_is_kept() -> None:
    """Beyond the catalog: `complete_delegated_task` may come before the executor reported the
    delegated task (they travel apart): the result waits for it, then goes to the workflow,
    naming the task's manual retry."""
    storage, transport = MemoryStorage(), _Sent()
    engine = ServiceTagEngine(transport, storage, "Delegation")  # type: ignore[arg-type]
    task = m.ExecuteTask(
        "m-1",
        "t-1",
        "Delegation",
        "delegate",
        b"[100]",
        retry_sequence=2,
        workflow_id="wf-1",
        workflow_name="W",
        method_run_id="wf-1",
    )
    done = m.TaskCompleted("m-2", "t-1", "Delegation", "", b'"success"')

    async def scenario() -> None:
        await storage.start()
        await engine.handle(m.encode(done))
        assert transport.sent == []
        await engine.handle(m.encode(task))

    asyncio.run(scenario())
    [(topic, reply)] = transport.sent
    assert topic == Topics.workflow_engine("W")
    assert isinstance(reply, m.TaskCompleted)
    assert (reply.task_id, reply.result, reply.method_run_id) == ("t-1", b'"success"', "wf-1")
    assert m.result_retry_sequence(reply) == 2
