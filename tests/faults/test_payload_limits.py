"""Payloads that would make the JSON layer build an unbounded structure are refused, clearly.

The limit is `maxPayloadBytes` (default 16 MiB, per worker config): a client refuses an oversized or
too deeply nested argument at the call, before anything is sent; a worker that receives one
fails the task with a SerializationError instead of decoding it.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from infinitic import (
    ConfigError,
    InfiniticWorker,
    SerializationError,
    TaskFailedError,
    WorkflowFailedError,
)
from infinitic.common import messages as m
from infinitic.common import serialization
from infinitic.common import workflow_messages as w
from infinitic.config import load_config
from infinitic.transport.base import Topics
from tests import sample_services as s
from tests import sample_workflows as sw

LIMIT = 64 * 1024
WAIT = 30.0


@dataclass
class Tree:
    name: str
    children: list[Tree] = field(default_factory=list)


def _config(name: str, limit: int | None) -> Mapping[str, Any]:
    return {
        "name": name,
        **({"maxPayloadBytes": limit} if limit is not None else {}),
        "services": [{"name": "Echo", "class": "tests.sample_services.EchoServiceImpl"}]
        + [{"name": "Math", "class": "tests.sample_workflows.MathServiceImpl"}],
        "workflows": [{"name": "Basic", "class": "tests.sample_workflows.BasicWorkflowImpl"}],
    }


@pytest.fixture
def worker() -> Iterator[InfiniticWorker]:
    with InfiniticWorker.from_config(_config("limits", LIMIT)) as started:
        yield started


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _sent_to(worker: InfiniticWorker, topic: str) -> list[bytes]:
    """Spies on the worker's in-memory transport: what is delivered to `topic` from now on."""
    sent: list[bytes] = []
    transport: Any = worker.transport
    original = transport._deliver

    def deliver(to: str, payload: bytes, key: str | None) -> None:
        if to == topic:
            sent.append(payload)
        original(to, payload, key)

    transport._deliver = deliver
    return sent


def test_the_config_sets_the_limit() -> None:
    assert load_config({"maxPayloadBytes": 12345}).max_payload_bytes == 12345
    assert load_config({}).max_payload_bytes == serialization.DEFAULT_MAX_PAYLOAD_BYTES
    with pytest.raises(ConfigError, match="maxPayloadBytes: must be greater than 0"):
        load_config({"maxPayloadBytes": 0}, source="infinitic.yml")
    with pytest.raises(ConfigError, match="maxPayloadBytes: expected an integer, got '16MiB'"):
        load_config({"maxPayloadBytes": "16MiB"})


def test_each_worker_of_a_process_keeps_its_own_limit(worker: InfiniticWorker) -> None:
    # a second worker in the same process, with the default limit, and no services: its
    # client sends what the first worker's client refuses, and the first worker's executor
    # refuses to decode it
    with InfiniticWorker.from_config({"name": "roomy"}) as roomy:
        big = "x" * (LIMIT + 1)
        handle = roomy.client.dispatch(roomy.client.new_service(s.EchoService).echo, big)
        with pytest.raises(TaskFailedError, match=f"over the limit of {LIMIT} bytes"):
            handle.result(timeout=WAIT)
        with pytest.raises(SerializationError, match=f"over the limit of {LIMIT} bytes"):
            worker.client.new_service(s.EchoService).echo(big)


def test_default_limit_is_16_mib() -> None:
    assert serialization.DEFAULT_MAX_PAYLOAD_BYTES == 16 * 1024 * 1024


@pytest.mark.parametrize(
    "argument, fragment",
    [
        ("x" * (LIMIT + 1), f"over the limit of {LIMIT} bytes"),
        ([0] * LIMIT, f"over the limit of {LIMIT} bytes"),
        (_nested(300), "argument 'value' of Echo.echo: nested deeper than 254 levels"),
    ],
    ids=["huge-string", "huge-array", "deep-nesting"],
)
def test_the_client_refuses_at_the_call_before_sending(
    worker: InfiniticWorker, argument: Any, fragment: str
) -> None:
    sent = _sent_to(worker, Topics.task_executor("Echo"))
    echo = worker.client.new_service(s.EchoService)
    with pytest.raises(SerializationError, match="Echo.echo") as info:
        echo.echo(argument)
    assert fragment in str(info.value)
    if "limit" in fragment:
        assert "argument 'value'" in str(info.value) and "maxPayloadBytes" in str(info.value)
    assert sent == []
    assert echo.echo("small") == "small"  # the client still works
    assert len(sent) == 1


def test_a_value_that_contains_itself_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(SerializationError, match="contains itself"):
        serialization.encode_args([loop], ["value"], "Echo.echo")


def _run_raw(worker: InfiniticWorker, args: bytes) -> m.TaskFailed | m.TaskCompleted:
    """Sends an ExecuteTask with these raw argument bytes; the executor's answer."""
    transport = worker.transport
    reply_to = "response:probe-" + str(time.monotonic_ns())
    answers: list[Any] = []

    async def collect(payload: bytes) -> None:
        answers.append(m.decode(payload))

    task = m.ExecuteTask("m-1", f"t-{time.monotonic_ns()}", "Echo", "echo", args, reply_to=reply_to)

    async def go() -> Any:
        await transport.subscribe(reply_to, collect)
        await transport.send(Topics.task_executor("Echo"), m.encode(task))
        deadline = time.monotonic() + WAIT
        for _ in range(100_000):  # poll with a deadline for the executor's reply
            if answers or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        return answers[0] if answers else None

    answer = worker.client._runtime.run(go())
    assert answer is not None, "the executor did not answer"
    return answer  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (b'["' + b"x" * LIMIT + b'"]', f"over the limit of {LIMIT} bytes"),
        (b"[" + b"0," * LIMIT + b"0]", f"over the limit of {LIMIT} bytes"),
        (b"[" * 2000 + b"]" * 2000, "depth limit exceeded"),
    ],
    ids=["huge-string", "huge-array", "deep-nesting"],
)
def test_the_worker_fails_the_task_instead_of_decoding(
    worker: InfiniticWorker, args: bytes, fragment: str
) -> None:
    s.RUNS.clear()
    answer = _run_raw(worker, args)
    assert isinstance(answer, m.TaskFailed)
    assert answer.error.name == "infinitic.errors.SerializationError"
    assert "the arguments of Echo.echo" in answer.error.message
    assert fragment in answer.error.message
    assert s.RUNS == []  # never ran
    ok = _run_raw(worker, b'["fine"]')  # and the executor goes on
    assert isinstance(ok, m.TaskCompleted) and ok.result == b'"fine"'


def test_a_workflow_started_with_oversized_arguments_fails_clearly(
    worker: InfiniticWorker,
) -> None:
    # as a client with a larger limit (or anyone writing to the topic) would start it
    client = worker.client
    workflow_id = f"wf-{time.monotonic_ns()}"
    start = w.DispatchWorkflow(
        f"m-{workflow_id}", workflow_id, "Basic", "sequential", b"[" + b" " * LIMIT + b"3]"
    )
    client._runtime.run(
        worker.transport.send(Topics.workflow_engine("Basic"), m.encode(start), key=workflow_id)
    )
    stub = client.get_workflow_by_id(sw.BasicWorkflow, workflow_id)
    with pytest.raises(WorkflowFailedError) as info:
        client.wait(stub, timeout=WAIT)
    assert f"over the limit of {LIMIT} bytes" in str(info.value)
    assert client.new_workflow(sw.BasicWorkflow).sequential(3) == 3  # the next one runs


def test_an_oversized_payload_is_refused_before_it_is_parsed() -> None:
    data = b"[" + b"0," * (1024 * 1024) + b"0]"
    tracemalloc.start()
    try:
        with pytest.raises(SerializationError, match="over the limit of 1024 bytes"):
            serialization.loads(data, "a task result", max_bytes=1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024  # decoding it would have built a list of a million items


def test_a_type_that_refers_to_itself_decodes() -> None:
    tree = Tree("root", [Tree("a", [Tree("b")]), Tree("c")])
    raw = serialization.loads(serialization.dumps(tree))
    assert serialization.convert(raw, Tree) == tree


def test_a_deep_payload_for_a_type_that_refers_to_itself_is_a_serialization_error() -> None:
    # 1001 levels: within orjson's depth limit (1024), deeper than Python's recursion converts
    depth = 500
    data = b'{"name":"x","children":[' * depth + b'{"name":"y"}' + b"]}" * depth
    with pytest.raises(SerializationError, match="cannot decode argument 'tree' as Tree"):
        serialization.convert(serialization.loads(data), Tree, "argument 'tree'")
