"""Micro-benchmarks of the envelope codec, compiled vs pure-Python twin, grouped by operation.

python -m pytest benchmarks/test_bench_envelope.py --benchmark-only

encode and decode run on a typical instance of every message and state type of
infinitic/common/messages.py and workflow_messages.py (built from its wire kinds by _sample).

Each timed round runs the operation 1,000 times: the per-call time is the mean divided by 1,000
(ops/s = 1,000 / mean). The "encode+decode" rounds are the figure DESIGN.md section 6 targets.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infinitic.common import workflow_messages as w
from infinitic.common.messages import (
    ALL_TYPES,
    MESSAGE_TYPES,
    ErrorInfo,
    ExecuteTask,
    TaskCompleted,
)
from tests.helpers.kernels import IMPLEMENTATIONS, EnvelopeKernel, load

CALLS = 1_000

EXECUTE_TASK = ExecuteTask(
    message_id="0b8f4c1e-5d7a-4f43-9a51-4a1f0c6f5d10",
    task_id="6f9e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
    service_name="HelloService",
    task_name="greet",
    args=b'["world", 42, {"lang": "fr", "n": 3}]',  # ~40 bytes of JSON
    tags=frozenset({"user:42", "batch:7"}),
    meta={"trace-id": b"4bf92f3577b34da6"},
    reply_to="infinitic-client-response-7",
    workflow_id="3c2d1e0f-9a8b-4c7d-8e6f-5a4b3c2d1e0f",
    workflow_name="HelloWorkflow",
    method_run_id="8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a",
    emitted_at=1712345678.125,
)
TASK_COMPLETED = TaskCompleted(
    message_id="a7c3e9f1-0d2b-4c5e-9f8a-1b2c3d4e5f60",
    task_id=EXECUTE_TASK.task_id,
    service_name="HelloService",
    task_name="greet",
    result=b'"hello world #0"',
    meta={"trace-id": b"4bf92f3577b34da6"},
    workflow_id=EXECUTE_TASK.workflow_id,
    workflow_name="HelloWorkflow",
    method_run_id=EXECUTE_TASK.method_run_id,
    emitted_at=1712345679.5,
)


def _sample(cls: type, commands: int = 3) -> Any:
    """A typical instance of a message type, built from its wire kinds: ids are uuid-long
    strings, payloads short JSON, optional nested errors absent unless the type requires one,
    and a method run carries `commands` completed task commands and reached steps."""
    kinds = dict(KINDS[cls])
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        kind = kinds[f.name]
        if kind == "s":
            values[f.name] = f"{f.name}-0b8f4c1e-5d7a-4f43-9a51-4a1f0c6f"
        elif kind == "S":
            values[f.name] = f"{f.name}-6f9e1a2b-3c4d-4e5f-8a9b"
        elif kind == "b":
            values[f.name] = b'["world", 42, {"lang": "fr"}]'
        elif kind == "i":
            values[f.name] = 7
        elif kind == "f":
            values[f.name] = 1712345678.125
        elif kind == "t":
            values[f.name] = frozenset({"user:42", "batch:7"})
        elif kind == "m":
            values[f.name] = {"trace-id": b"4bf92f3577b34da6"}
        elif kind == "L":
            values[f.name] = ["infinitic-client-response-7"]
        elif kind == "n":
            if f.name == "method_run":
                values[f.name] = _sample(w.MethodRun, commands)
            elif required:
                values[f.name] = _sample(ErrorInfo)
        elif kind == "N":
            item = {"commands": w.Command, "new_commands": w.Command, "steps": w.Step}
            item |= {"new_steps": w.Step, "method_runs": w.MethodRun}
            if f.name in item:
                values[f.name] = [
                    _sample(item[f.name], commands)
                    for _ in range(1 if item[f.name] is w.MethodRun else commands)
                ]
    return cls(**values)


KINDS = {cls: fields for _, cls, fields in ALL_TYPES}
SAMPLES = [pytest.param(_sample(cls), id=cls.__name__) for _, cls, _ in ALL_TYPES]
MESSAGES = [
    pytest.param(EXECUTE_TASK, id="ExecuteTask"),
    pytest.param(TASK_COMPLETED, id="TaskCompleted"),
]


@pytest.fixture(params=IMPLEMENTATIONS)
def envelope(request: pytest.FixtureRequest) -> EnvelopeKernel:
    return load("envelope", request.param)  # skips a missing compiled module


def _group(benchmark: Any, operation: str, message: object) -> None:
    benchmark.group = f"envelope.{operation} {type(message).__name__} x{CALLS}"


@pytest.mark.parametrize("message", SAMPLES)
def test_encode(benchmark, envelope: EnvelopeKernel, message: object) -> None:  # type: ignore[no-untyped-def]
    _group(benchmark, "encode", message)
    encode = envelope.Codec(ALL_TYPES).encode
    loop = range(CALLS)

    def run() -> bytes:
        data = b""
        for _ in loop:
            data = encode(message)
        return data

    assert benchmark(run)[:3] == b"IN\x01"


@pytest.mark.parametrize("message", SAMPLES)
def test_decode(benchmark, envelope: EnvelopeKernel, message: object) -> None:  # type: ignore[no-untyped-def]
    _group(benchmark, "decode", message)
    codec = envelope.Codec(ALL_TYPES)
    decode = codec.decode
    data = codec.encode(message)
    loop = range(CALLS)

    def run() -> object:
        for _ in loop:
            decoded = decode(data)
        return decoded

    assert benchmark(run) == message


@pytest.mark.parametrize("message", MESSAGES)
def test_encode_decode(benchmark, envelope: EnvelopeKernel, message: object) -> None:  # type: ignore[no-untyped-def]
    _group(benchmark, "encode+decode", message)
    codec = envelope.Codec(MESSAGE_TYPES)
    encode = codec.encode
    decode = codec.decode
    loop = range(CALLS)

    def run() -> object:
        for _ in loop:
            decoded = decode(encode(message))
        return decoded

    assert benchmark(run) == message


# A workflow's stored state: one method run that completed 100 tasks and reached 100 awaits.
# Its cost divided by 100 is the state codec's cost per command (and step).
STATE_COMMANDS = 100
STATE_CALLS = 10
WORKFLOW_STATE = w.WorkflowState(
    workflow_id="3c2d1e0f-9a8b-4c7d-8e6f-5a4b3c2d1e0f",
    workflow_name="HelloWorkflow",
    tags=frozenset({"user:42"}),
    meta={"trace-id": b"4bf92f3577b34da6"},
    properties=b'{"count": 100}',
    props_store={"5f2b": b'{"count": 100}'},
    method_runs=[
        w.MethodRun(
            method_run_id="3c2d1e0f-9a8b-4c7d-8e6f-5a4b3c2d1e0f",
            method_name="run",
            args=b'["world"]',
            waiting_clients=["infinitic-client-response-7"],
            commands=[
                w.Command(
                    command_id=f"3c2d1e0f-9a8b-4c7d-8e6f-{position:012d}",
                    position=position,
                    kind="task",
                    name="HelloService",
                    method="greet",
                    args=b'["world", 42]',
                    args_hash="9f86d081884c7d65",
                    status="completed",
                    result=b'"hello world #0"',
                    completed_at=position + 1,
                )
                for position in range(STATE_COMMANDS)
            ],
            steps=[
                w.Step(
                    position=position,
                    signature="5e884898da280471",
                    tree=b'{"c": %d}' % position,
                    terminated_at=position + 1,
                    props_hash="5f2b",
                )
                for position in range(STATE_COMMANDS)
            ],
            props_at_start="5f2b",
            start_index=0,
            created_at=1712345678.125,
        )
    ],
    event_index=2 * STATE_COMMANDS,
    task_index=STATE_COMMANDS,
    created_at=1712345678.125,
    updated_at=1712345778.5,
    dispatch_id="0b8f4c1e-5d7a-4f43-9a51-4a1f0c6f5d10",
)


def test_encode_decode_workflow_state(benchmark, envelope: EnvelopeKernel) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = (
        f"envelope.encode+decode WorkflowState({STATE_COMMANDS} commands, "
        f"{STATE_COMMANDS} steps) x{STATE_CALLS}"
    )
    codec = envelope.Codec(ALL_TYPES)
    encode = codec.encode
    decode = codec.decode
    loop = range(STATE_CALLS)

    def run() -> object:
        for _ in loop:
            decoded = decode(encode(WORKFLOW_STATE))
        return decoded

    assert benchmark(run) == WORKFLOW_STATE
