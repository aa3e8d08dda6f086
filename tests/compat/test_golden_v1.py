"""Envelope format version 1: golden bytes that every future release must keep decoding.

golden_v1.json maps a case name to the hex of its envelope. The bytes were written once, by
the release that introduced format version 1, and are never regenerated: if a test here fails,
the change broke compatibility with messages already sitting in topics (docs/envelope.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from infinitic.common import messages
from infinitic.common.messages import (
    MESSAGE_TYPES,
    ErrorInfo,
    ExecuteTask,
    TaskCompleted,
    TaskFailed,
)

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


def golden() -> dict[str, bytes]:
    content = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))
    assert content["format_version"] == 1
    return {name: bytes.fromhex(hexed) for name, hexed in content["envelopes"].items()}


def test_golden_file_covers_every_case_and_every_type() -> None:
    assert set(golden()) == set(EXPECTED)
    assert {type(message) for message in EXPECTED.values()} == {cls for _, cls, _ in MESSAGE_TYPES}
    for data in golden().values():
        assert data[:3] == b"IN\x01"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_decode_golden(envelope_impl: ModuleType, name: str) -> None:
    codec = envelope_impl.Codec(MESSAGE_TYPES)
    assert codec.decode(golden()[name]) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_encode_golden(envelope_impl: ModuleType, name: str) -> None:
    codec = envelope_impl.Codec(MESSAGE_TYPES)
    assert codec.encode(EXPECTED[name]) == golden()[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_default_codec_reads_golden(name: str) -> None:
    assert messages.decode(golden()[name]) == EXPECTED[name]
    assert messages.encode(EXPECTED[name]) == golden()[name]


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
