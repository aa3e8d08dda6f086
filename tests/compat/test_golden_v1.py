"""Envelope format version 1: golden bytes that every future release must keep decoding.

golden_v1.json maps a case name to the hex of its envelope. The bytes were written once, by
the release that introduced format version 1, and are never regenerated: if a test here fails,
the change broke compatibility with messages already sitting in topics (docs/envelope.md).
The workflow cases (type ids 20-51, with the `L` and `N` field kinds) were added to version 1
with those types; the same rule holds for them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infinitic.common import messages
from infinitic.common import workflow_messages as w
from infinitic.common.messages import (
    ALL_TYPES,
    MESSAGE_TYPES,
    DetailedErrorInfo,
    ErrorInfo,
    ExecuteTask,
    TaskCompleted,
    TaskFailed,
)
from infinitic.common.workflow_messages import WORKFLOW_TYPES
from tests.helpers.kernels import EnvelopeKernel

GOLDEN_FILE = Path(__file__).with_name("golden_v1.json")

CAUSE = ErrorInfo(
    worker_name="worker-1",
    name="builtins.KeyError",
    message="'missing'",
    stack_trace="Traceback (most recent call last):\n  ...\nKeyError: 'missing'\n",
)
ERROR = ErrorInfo(
    worker_name="worker-1",
    name="app.errors.PaymentError",
    message="carte refusée ✗",
    stack_trace="Traceback (most recent call last):\n  ...\n",
    cause=CAUSE,
)

EXPECTED: dict[str, object] = {
    "error_info_minimal": ErrorInfo("", "", "", ""),
    "error_info_chain": ERROR,
    "execute_task_minimal": ExecuteTask("", "", "", "", b""),
    "execute_task_typical": ExecuteTask(
        message_id="0b8f4c1e-5d7a-4f43-9a51-4a1f0c6f5d10",
        task_id="6f9e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
        service_name="HelloService",
        task_name="greet",
        args=b'["world", 42, {"lang": "fr"}]',
        tags=frozenset({"user:42", "batch:7"}),
        meta={"trace-id": b"\x00\x01\x02\xff"},
        retry_index=0,
        retry_sequence=0,
        last_error=None,
        reply_to="infinitic-client-response-7",
        workflow_id=None,
        workflow_name=None,
        method_run_id=None,
        emitted_at=1712345678.125,
    ),
    "execute_task_retry": ExecuteTask(
        message_id="m-2",
        task_id="t-2",
        service_name="Payments",
        task_name="charge",
        args=b"[]",
        tags=frozenset({"z", "a", "m", "日本"}),
        meta={"b": b"", "a": b"1", "": b"empty key"},
        retry_index=11,
        retry_sequence=-3,
        last_error=ERROR,
        reply_to=None,
        workflow_id="wf-9",
        workflow_name="Checkout",
        method_run_id="run-1",
        emitted_at=-0.5,
    ),
    "execute_task_extremes": ExecuteTask(
        message_id="🎉",
        task_id="\x00",
        service_name="s" * 200,
        task_name="t",
        args=bytes(range(256)),
        tags=frozenset({""}),
        meta={},
        retry_index=2**63 - 1,
        retry_sequence=-(2**63),
        last_error=None,
        reply_to="",
        workflow_id="",
        workflow_name="",
        method_run_id="",
        emitted_at=float("inf"),
    ),
    "task_completed_minimal": TaskCompleted("", "", "", "", b""),
    "task_completed_typical": TaskCompleted(
        message_id="a7c3e9f1-0d2b-4c5e-9f8a-1b2c3d4e5f60",
        task_id="6f9e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
        service_name="HelloService",
        task_name="greet",
        result=b'"hello world #0"',
        meta={"trace-id": b"\x00\x01\x02\xff", "k": b"v"},
        reply_to=None,
        workflow_id="wf-1",
        workflow_name="HelloWorkflow",
        method_run_id="run-1",
        emitted_at=1712345679.0,
    ),
    "task_failed_minimal": TaskFailed("", "", "", "", ErrorInfo("", "", "", "")),
    # type 5, added to format version 1: an error with custom properties and a previous attempt
    "detailed_error_info": DetailedErrorInfo(
        "worker-1",
        "app.errors.CardError",
        "declined",
        "Traceback ...\n",
        CAUSE,
        properties=b'{"code":42,"retryable":false}',
        previous=ErrorInfo("worker-2", "builtins.KeyError", "'x'", ""),
    ),
    "task_failed_typical": TaskFailed(
        message_id="f-1",
        task_id="t-2",
        service_name="Payments",
        task_name="charge",
        error=ERROR,
        meta={"attempts": b"12"},
        reply_to="client-3",
        workflow_id=None,
        workflow_name=None,
        method_run_id=None,
        emitted_at=1e-300,
    ),
}

# Workflow messages (type ids 20-51), added to format version 1 with the `L` and `N` kinds.
WF_ERROR = ErrorInfo("worker-2", "app.errors.OutOfStock", "no stock", "Traceback ...\n")

WORKFLOW_EXPECTED: dict[str, object] = {
    "tag_ids_minimal": w.TagIds("m", "W", "t", ["wf-1", "é"], "r", 0.0),
    # client steering with filters (types 44, 45)
    "complete_method_timers": w.CompleteMethodTimers(
        "m-43", "wf-1", "HelloWorkflow", "wf-1", 1700000000.25
    ),
    "retry_tasks_where": w.RetryTasksWhere(
        "m-44", "wf-1", "HelloWorkflow", None, "timed_out", "HelloService", 1700000000.5
    ),
    # the segmented state layout (engines/workflow_engine/stored.py), types 24 and 25
    "stored_state": w.StoredState(
        w.WorkflowState("wf-1", "W", method_runs=[w.MethodRun("wf-1", "run", b"[]")]),
        ["workflow.state:W:wf-1#0c0.1", "workflow.state:W:wf-1#0s0.1"],
    ),
    # the head with its outbox (engines/workflow_engine/engine.py), types 26 and 27
    "saved_state": w.SavedState(
        w.WorkflowState("wf-1", "W", method_runs=[w.MethodRun("wf-1", "run", b"[]")]),
        ["workflow.state:W:wf-1#0c0.3"],
        [
            w.OutboxItem("task-executor:S", b"IN\x01\x01\x00\x00\x00\x00\x00"),
            w.OutboxItem("workflow-task-executor:W", b"", "wf-1"),
            w.OutboxItem(
                "workflow-engine:W", b"IN\x01\x01\x00\x00\x00\x00\x00", "wf-1", 1712345690.5
            ),
        ],
        "3f1c0d2e-owner",
    ),
    "confirm_start": w.ConfirmStart("m-43", "wf-1", "HelloWorkflow", "client-1", 1712345686.0),
    "state_segment": w.StateSegment(
        "wf-1",
        "commands",
        128,
        [w.Command("c-128", 128, "task", "S", "m", b"[1]", "h", status="completed", result=b"2")],
    ),
    "workflow_state_minimal": w.WorkflowState(
        "",
        "",
        status="",
        properties=b"",
        method_runs=[w.MethodRun("r", "", b"", status="", waiting_clients=["c"])],
        buffer=[w.Step(1, "s", b"{}")],
    ),
    "workflow_state_typical": w.WorkflowState(
        workflow_id="3c2d1e0f-9a8b-4c7d-8e6f-5a4b3c2d1e0f",
        workflow_name="CheckoutWorkflow",
        tags=frozenset({"user:42", "cart:7"}),
        meta={"trace-id": b"\x00\x01"},
        status="running",
        properties=b'{"total": 12.5}',
        props_store={"h1": b'{"total": 0}', "h2": b'{"total": 12.5}'},
        method_runs=[
            w.MethodRun(
                method_run_id="3c2d1e0f-9a8b-4c7d-8e6f-5a4b3c2d1e0f",
                method_name="checkout",
                args=b'["cart-7"]',
                status="running",
                waiting_clients=["client-1", "client-2"],
                commands=[
                    w.Command(
                        command_id="cmd-0",
                        position=0,
                        kind="task",
                        name="Payments",
                        method="charge",
                        args=b"[12.5]",
                        args_hash="a1b2",
                        tags=frozenset({"cart:7"}),
                        meta={"k": b"v"},
                        status="completed",
                        result=b'"ok"',
                        completed_at=2,
                        retry_sequence=1,
                    ),
                    w.Command(
                        command_id="cmd-1",
                        position=1,
                        kind="task",
                        name="Stock",
                        method="reserve",
                        args=b'["sku-1"]',
                        status="failed",
                        error=WF_ERROR,
                        completed_at=4,
                        deadline=1712345700.0,
                    ),
                    w.Command(
                        command_id="cmd-2",
                        position=2,
                        kind="timer",
                        name="",
                        method="",
                        due_at=1712345690.25,
                    ),
                    w.Command(
                        command_id="cmd-3",
                        position=3,
                        kind="receive",
                        name="points",
                        method="",
                        limit=3,
                        filter=b'{"$.kind": "bonus"}',
                    ),
                ],
                steps=[
                    w.Step(0, "sig-0", b'{"c": 0}', terminated_at=2, props_hash="h1"),
                    w.Step(2, "sig-2", b'{"any": [2, 3]}'),
                ],
                props_at_start="h1",
                start_index=0,
                created_at=1712345678.125,
            )
        ],
        event_index=5,
        task_index=3,
        running_task_id=None,
        running_method_run_id=None,
        buffer=[
            TaskCompleted("m-9", "cmd-9", "Stock", "reserve", b"true", workflow_id="3c2d1e0f"),
            w.SendSignal("m-10", "3c2d1e0f", "CheckoutWorkflow", "points", b"7", 1712345680.5),
        ],
        created_at=1712345678.0,
        updated_at=1712345681.75,
        dispatch_id="d-1",
    ),
    "execute_workflow_task": w.ExecuteWorkflowTask(
        message_id="m-20",
        workflow_id="wf-1",
        workflow_name="HelloWorkflow",
        workflow_task_id="wt-3",
        method_run=w.MethodRun(
            "wf-1",
            "run",
            b'["world"]',
            commands=[w.Command("c-0", 0, "task", "HelloService", "greet", b'["world"]', "h")],
            steps=[w.Step(0, "sig", b"{}")],
            start_index=0,
        ),
        tags=frozenset({"user:42"}),
        meta={"trace-id": b"\xff"},
        properties=b'{"n": 1}',
        props_store={"h": b'{"n": 1}'},
        as_of=7,
        emitted_at=1712345682.0,
    ),
    "workflow_task_completed": w.WorkflowTaskCompleted(
        message_id="m-21",
        workflow_id="wf-1",
        workflow_name="HelloWorkflow",
        method_run_id="wf-1",
        workflow_task_id="wt-3",
        outcome="waiting",
        new_commands=[
            w.Command("c-1", 1, "timer", "", "", due_at=1712345690.0),
            w.Command("c-2", 2, "workflow", "ChildWorkflow", "run", b"[]", "h2", target_tag="t"),
        ],
        new_steps=[w.Step(1, "sig-1", b'{"c": 1}')],
        properties=b'{"n": 2}',
        props_store={"h3": b'{"n": 2}'},
        result=b"",
        error=None,
        emitted_at=1712345683.5,
    ),
    "tag_command": w.TagCommand(
        message_id="m-30",
        workflow_name="HelloWorkflow",
        tag="user:42",
        action="signal",
        workflow_id=None,
        channel="points",
        signal=b"10",
        reply_to="client-9",
        emitted_at=1712345684.0,
    ),
    "method_outcome": w.MethodOutcome(
        message_id="m-40",
        workflow_id="child-1",
        workflow_name="ChildWorkflow",
        method_run_id="c-2",
        method_name="run",
        status="failed",
        result=b"",
        error=ErrorInfo("worker-3", "ValueError", "bad", "tb", WF_ERROR),
        parent_workflow_id="wf-1",
        parent_workflow_name="HelloWorkflow",
        parent_method_run_id="wf-1",
        emitted_at=1712345685.0,
    ),
}
ALL_EXPECTED: dict[str, object] = {**EXPECTED, **WORKFLOW_EXPECTED}


def golden() -> dict[str, bytes]:
    content = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))
    assert content["format_version"] == 1
    return {name: bytes.fromhex(hexed) for name, hexed in content["envelopes"].items()}


def test_golden_file_covers_every_case_and_every_type() -> None:
    assert set(golden()) == set(ALL_EXPECTED)
    assert {type(message) for message in EXPECTED.values()} == {cls for _, cls, _ in MESSAGE_TYPES}
    workflow_classes = {cls for _, cls, _ in WORKFLOW_TYPES}
    assert {type(message) for message in WORKFLOW_EXPECTED.values()} <= workflow_classes
    for data in golden().values():
        assert data[:3] == b"IN\x01"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_decode_golden(envelope_impl: EnvelopeKernel, name: str) -> None:
    codec = envelope_impl.Codec(MESSAGE_TYPES)
    assert codec.decode(golden()[name]) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_encode_golden(envelope_impl: EnvelopeKernel, name: str) -> None:
    codec = envelope_impl.Codec(MESSAGE_TYPES)
    assert codec.encode(EXPECTED[name]) == golden()[name]


@pytest.mark.parametrize("name", sorted(ALL_EXPECTED))
def test_decode_golden_with_every_type(envelope_impl: EnvelopeKernel, name: str) -> None:
    codec = envelope_impl.Codec(ALL_TYPES)
    decoded = codec.decode(golden()[name])
    assert type(decoded) is type(ALL_EXPECTED[name])
    assert decoded == ALL_EXPECTED[name]


@pytest.mark.parametrize("name", sorted(ALL_EXPECTED))
def test_encode_golden_with_every_type(envelope_impl: EnvelopeKernel, name: str) -> None:
    codec = envelope_impl.Codec(ALL_TYPES)
    assert codec.encode(ALL_EXPECTED[name]) == golden()[name]


@pytest.mark.parametrize("name", sorted(ALL_EXPECTED))
def test_default_codec_reads_golden(name: str) -> None:
    assert messages.decode(golden()[name]) == ALL_EXPECTED[name]
    assert messages.encode(ALL_EXPECTED[name]) == golden()[name]


def test_hand_checked_bytes() -> None:
    """One envelope spelled out byte by byte, as in docs/envelope.md."""
    assert golden()["task_completed_minimal"] == (
        b"IN"  # magic
        + b"\x01"  # format version
        + b"\x03"  # type id 3: TaskCompleted
        + b"\x00" * 5  # message_id, task_id, service_name, task_name: "", result: b""
        + b"\x00"  # meta: 0 entries
        + b"\x00" * 4  # reply_to, workflow_id, workflow_name, method_run_id: None
        + b"\x00" * 8  # emitted_at: 0.0
    )
    assert golden()["error_info_minimal"] == b"IN\x01\x01" + b"\x00" * 4 + b"\x00"


def test_hand_checked_list_bytes() -> None:
    """An `L` field and `N` fields spelled out byte by byte, as in docs/envelope.md."""
    assert golden()["tag_ids_minimal"] == (
        b"IN\x01"
        + b"\x33"  # type id 51: TagIds
        + b"\x01m\x01W\x01t"  # message_id, workflow_name, tag
        + b"\x02"  # ids (L): 2 items
        + b"\x04wf-1"  # "wf-1"
        + b"\x02\xc3\xa9"  # "é", 2 bytes of UTF-8
        + b"\x01r"  # request_id
        + b"\x00" * 8  # emitted_at: 0.0
    )
    assert golden()["workflow_state_minimal"] == (
        b"IN\x01"
        + b"\x17"  # type id 23: WorkflowState
        + b"\x00" * 7  # workflow_id, workflow_name, tags, meta, status, properties, props_store
        + b"\x01"  # method_runs (N): 1 item
        + b"\x16"  # its type id, 22: MethodRun
        + b"\x01r"  # method_run_id "r"
        + b"\x00" * 4  # method_name "", args b"", status "", result b""
        + b"\x00"  # error: None
        + b"\x00" * 3  # parent_workflow_id, parent_workflow_name, parent_method_run_id: None
        + b"\x01\x01c"  # waiting_clients (L): 1 item, "c"
        + b"\x00\x00"  # commands, steps (N): 0 items
        + b"\x00"  # props_at_start ""
        + b"\x01"  # start_index -1 (zigzag 1)
        + b"\x00" * 8  # created_at 0.0
        + b"\x00\x00"  # event_index, task_index: 0
        + b"\x00\x00"  # running_task_id, running_method_run_id: None
        + b"\x01"  # buffer (N): 1 item
        + b"\x15"  # its type id, 21: Step
        + b"\x02\x01s\x02{}\x01\x00"  # position 1, signature "s", tree b"{}", -1, ""
        + b"\x00" * 16  # created_at, updated_at: 0.0
        + b"\x00"  # dispatch_id ""
    )
