"""`async def` workflow methods: what they may await, what is refused and how; async services
awaiting client calls. The workflows' behaviour itself is the workflow suite's, run on sync and
async twins (test_workflows.py, test_live_runs.py)."""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from infinitic import (
    ConfigError,
    InfiniticClient,
    InfiniticWorker,
    TaskFailedError,
    TimeoutError,
    WorkflowFailedError,
)
from infinitic.common.runtime import Runtime
from infinitic.transport.memory import InMemoryTransport
from tests import sample_workflows as sw
from tests.async_samples import CallerService
from tests.helpers import SERVICES, config

WAIT = 30
GUIDANCE = "self.timer(...) instead of asyncio.sleep"


@pytest.fixture(scope="module")
def worker() -> Iterator[InfiniticWorker]:
    cfg = config()
    cfg["services"] = [
        *SERVICES,
        {
            "name": "Caller",
            "class": "tests.async_samples.CallerServiceImpl",
            "concurrency": 2,
            "retry": {"maximumRetries": 0},
        },
    ]
    with InfiniticWorker.from_config(cfg) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "what"),
    [
        ("sleeps", "the event loop's create_future()"),  # asyncio.sleep(1)
        ("sleeps_zero", "yielded None to the event loop"),  # asyncio.sleep(0)
        ("gathers", "the event loop's create_task()"),  # asyncio.gather of Deferreds
    ],
)
def test_real_time_and_io_awaits_fail_the_workflow_saying_what_to_use(
    worker: InfiniticWorker, method: str, what: str
) -> None:
    with pytest.raises(WorkflowFailedError) as info:
        getattr(worker.client.new_workflow(sw.AsyncBasicWorkflow), method)()
    message = str(info.value)
    assert "WorkflowAwaitError" in message and what in message
    assert GUIDANCE in message and "all_of(...)/any_of(...) instead of asyncio.gather" in message


def test_an_inline_coroutine_is_refused(worker: InfiniticWorker) -> None:
    with pytest.raises(WorkflowFailedError, match="self.inline takes a plain function"):
        worker.client.new_workflow(sw.AsyncBasicWorkflow).inline_coroutine()


def test_a_sync_declared_stub_answers_with_its_value_in_async_code(
    worker: InfiniticWorker,
) -> None:
    assert worker.client.new_workflow(sw.AsyncBasicWorkflow).sync_stub_call(41) == 42


def test_generator_workflow_methods_are_refused_at_worker_start() -> None:
    cfg = config()
    cfg["workflows"] = [
        {"name": "Generating", "class": "tests.async_samples.GeneratingWorkflowImpl"}
    ]
    with pytest.raises(ConfigError) as info:
        with InfiniticWorker.from_config(cfg):
            pass
    message = str(info.value)
    assert "method numbers is a generator (def with yield)" in message
    assert "method streamed is an async generator (async def with yield)" in message


def test_async_client_code_awaits_stub_calls_of_async_declared_methods(
    worker: InfiniticWorker,
) -> None:
    client = worker.client

    async def main() -> tuple[int, int]:
        math = client.new_service(sw.AsyncMathService)
        flow = client.new_workflow(sw.AsyncBasicWorkflow)
        return await math.add(2, 3), await flow.sequential(4)

    assert asyncio.run(main()) == (5, 6)


@pytest.mark.parametrize(
    ("method", "expected"), [("awaits_stub", 11), ("awaits_dispatch", 12), ("awaits_workflow", 45)]
)
def test_an_async_task_awaits_calls_through_the_workers_client(
    worker: InfiniticWorker, method: str, expected: int
) -> None:
    caller: Any = worker.client.new_service(CallerService)
    handle = worker.client.dispatch(getattr(caller, method), 10)
    assert handle.result(timeout=WAIT) == expected


def test_a_blocking_call_on_the_workers_own_loop_is_refused_not_a_deadlock(
    worker: InfiniticWorker,
) -> None:
    caller = worker.client.new_service(CallerService)
    with pytest.raises(TaskFailedError) as info:
        worker.client.dispatch(caller.blocks, 1).result(timeout=WAIT)
    error = info.value.last_error
    assert error.name == "RuntimeError"
    assert "would block the event loop this call runs on" in error.message
    assert "`await client.dispatch(stub.add, ...)`" in error.message


def test_coroutines_and_generators_on_sync_only_paths_of_a_service_are_refused_at_start() -> None:
    cfg = config()
    cfg["workflows"] = []
    cfg["services"] = [{"name": "BadHooks", "class": "tests.async_samples.BadHooksServiceImpl"}]
    with pytest.raises(ConfigError) as info:
        with InfiniticWorker.from_config(cfg):
            pass
    message = str(info.value)
    assert "service BadHooks: method numbers is a generator (def with yield)" in message
    assert "service BadHooks: get_timeout_in_seconds is `async def`" in message
    assert "service BadHooks: get_seconds_before_retry is `async def`" in message
    assert message.count("get_timeout_in_seconds") == 1  # once, though it serves both tasks


def test_a_refused_task_closes_its_coroutine_and_sleep_zero_is_refused_too() -> None:
    from infinitic.workflow.aio import WorkflowAwaitError, run_coroutine

    async def helper() -> int:
        return 1

    async def spawns() -> None:
        asyncio.create_task(helper())

    with pytest.raises(WorkflowAwaitError, match=r"the event loop's create_task\(\)"):
        run_coroutine(spawns())
    gc.collect()  # a coroutine left unclosed would warn "never awaited" here (an error in tests)

    async def plain() -> int:
        return await asyncio.sleep(0, result=7)

    with pytest.raises(WorkflowAwaitError, match="yielded None"):
        run_coroutine(plain())
    assert asyncio.events._get_running_loop() is None  # the thread's loop is restored


def test_a_blocking_client_wait_on_the_workers_loop_is_refused_naming_the_awaitable_form(
    worker: InfiniticWorker,
) -> None:
    client = worker.client
    caller = client.new_service(CallerService)
    with pytest.raises(TaskFailedError) as info:
        client.dispatch(caller.blocks_on_ids, "nobody").result(timeout=WAIT)
    message = info.value.last_error.message
    assert "would block the event loop that must deliver it" in message
    assert "await client.get_ids_by_tag_async(Interface, tag)" in message


def test_an_async_task_awaits_ids_by_tag_and_a_workflows_result_on_the_workers_loop(
    worker: InfiniticWorker,
) -> None:
    client = worker.client
    caller = client.new_service(CallerService)
    tag = f"pinged-{uuid.uuid4().hex}"
    done = client.dispatch(client.new_workflow(sw.AsyncBasicWorkflow).sequential, 4)
    assert client.dispatch(caller.awaits_wait, done.id).result(timeout=WAIT) == 6
    pinged = client.dispatch(
        client.new_workflow(sw.AsyncBasicWorkflow, tags={tag}).waiting_for_ping, 1
    )
    assert client.dispatch(caller.awaits_ids, tag).result(timeout=WAIT) == [pinged.id]
    client.cancel(client.get_workflow_by_id(sw.AsyncBasicWorkflow, pinged.id))


def test_awaiting_wait_lets_the_loop_run_until_the_result_comes(worker: InfiniticWorker) -> None:
    """In the caller's own asyncio code: while `wait_async` waits, the loop runs the coroutine
    that sends the signal the workflow needs to end (a blocking wait would never let it run,
    and would end in the wait's timeout)."""
    client = worker.client
    handle = client.dispatch(client.new_workflow(sw.AsyncBasicWorkflow).waiting_for_ping, 1)
    stub = client.get_workflow_by_id(sw.AsyncBasicWorkflow, handle.id)

    async def main() -> Any:
        waiting = asyncio.ensure_future(client.wait_async(stub, timeout=WAIT))
        while not waiting.done():  # a signal before the receive is recorded is dropped
            stub.ping.send("pong")
            await asyncio.wait({waiting}, timeout=0.05)
        return waiting.result()

    assert asyncio.run(main()) == ["pong"]


def test_awaited_client_calls_time_out_and_raise_like_the_sync_ones(
    worker: InfiniticWorker,
) -> None:
    client = worker.client
    handle = client.dispatch(client.new_workflow(sw.AsyncBasicWorkflow).waiting_for_ping, 1)
    stub = client.get_workflow_by_id(sw.AsyncBasicWorkflow, handle.id)
    failing = client.get_workflow_by_id(
        sw.AsyncBasicWorkflow,
        client.dispatch(client.new_workflow(sw.AsyncBasicWorkflow).failing).id,
    )

    async def main() -> None:
        with pytest.raises(TimeoutError, match=handle.id):
            await client.wait_async(stub, timeout=0.2)
        with pytest.raises(WorkflowFailedError, match="boom"):
            await client.wait_async(failing, timeout=WAIT)
        assert await client.get_task_ids_by_tag_async(sw.MathService, "nobody") == []

    asyncio.run(main())
    client.cancel(stub)


def test_an_async_event_listener_is_refused_at_start() -> None:
    pytest.importorskip("cloudevents")
    cfg = {"name": "w", "eventListener": {"class": "tests.async_samples.AsyncRecorder"}}
    with pytest.raises(ConfigError, match=r"AsyncRecorder\.on_events is `async def`"):
        with InfiniticWorker.from_config(cfg):
            pass


class _Unreachable(InMemoryTransport):
    """A transport whose every keyed send fails (a broker gone)."""

    async def send(self, topic: str, payload: bytes, **kw: Any) -> None:  # type: ignore[override]
        raise ConnectionError("broker gone")


def test_a_failed_send_ends_an_ids_request_at_once_blocking_or_awaited() -> None:
    """Before: the request waited out its whole timeout, then said TimeoutError."""
    runtime = Runtime.acquire()
    transport = _Unreachable()
    runtime.run(transport.start())
    client = InfiniticClient(transport, runtime)
    try:
        with pytest.raises(ConnectionError, match="broker gone"):
            client.get_ids_by_tag(sw.AsyncBasicWorkflow, "t", timeout=WAIT)
        with pytest.raises(ConnectionError, match="broker gone"):
            asyncio.run(client.get_task_ids_by_tag_async(sw.MathService, "t", timeout=WAIT))
    finally:
        client.close()
        runtime.run(transport.close())
        runtime.release()
