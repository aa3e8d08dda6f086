"""The envelope codec, compiled and twin: round trips, parity, limits and error messages.

One suite over two families of messages: the task and tag messages (`MESSAGE_TYPES`, scalar and
nested fields) and every registered type (`ALL_TYPES`, with the workflow state's `L` and `N`
list fields). Each generic test runs on both families; what only one family has is tested
where its topic is.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infinitic._core import envelope
from infinitic._core._errors import EnvelopeError
from infinitic.common import workflow_messages as w
from infinitic.common.messages import (
    ALL_TYPES,
    MESSAGE_TYPES,
    ErrorInfo,
    ExecuteTask,
    TaskCompleted,
    TaskFailed,
)
from infinitic.common.workflow_messages import WORKFLOW_TYPES
from tests.helpers.kernels import EnvelopeKernel, envelope_pair, load

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HEADER = b"IN\x01"
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


# ------------------------------------------------------------------------------ strategies
ints64 = st.one_of(
    st.integers(I64_MIN, I64_MAX),
    st.sampled_from([0, 1, -1, 63, 64, -64, -65, I64_MIN, I64_MAX, I64_MIN + 1, I64_MAX - 1]),
)


texts = st.one_of(st.text(), st.sampled_from(["", "é", "日本語", "🎉" * 3, "a\x00b"]))


floats = st.floats(allow_nan=False)


def _chain(levels: list[tuple[str, str, str, str]]) -> ErrorInfo:
    error: ErrorInfo | None = None
    for worker_name, name, message, stack_trace in reversed(levels):
        error = ErrorInfo(worker_name, name, message, stack_trace, error)
    assert error is not None
    return error


# Nested ErrorInfo chains of 1 to 6 levels (built by map: hypothesis's pretty-printer is
# very slow on deeply nested `builds` reprs). Chains up to the limit: test_nesting_up_to_the_limit.
error_infos: st.SearchStrategy[ErrorInfo] = st.lists(
    st.tuples(texts, texts, texts, texts), min_size=1, max_size=6
).map(_chain)

KIND_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "s": texts,
    "S": st.none() | texts,
    "b": st.binary(max_size=300),
    "i": ints64,
    "f": floats,
    "t": st.frozensets(texts, max_size=6),
    "m": st.dictionaries(texts, st.binary(max_size=40), max_size=5),
    "n": st.none() | error_infos,
    "L": st.lists(texts, max_size=4),
}


def message_strategy(cls: type, fields: tuple[tuple[str, str], ...]) -> st.SearchStrategy[Any]:
    return st.builds(cls, *[KIND_STRATEGIES[kind] for _, kind in fields])


messages = st.one_of(*[message_strategy(cls, fields) for _, cls, fields in MESSAGE_TYPES])
FIELDS: dict[type, tuple[tuple[str, str], ...]] = {cls: fields for _, cls, fields in ALL_TYPES}
ALL_CLASSES = {cls for _, cls, _ in ALL_TYPES}


def fields_strategy(
    cls: type, overrides: dict[str, st.SearchStrategy[Any]] | None = None
) -> st.SearchStrategy[Any]:
    """`cls` built from one strategy per field: by kind, or by name from `overrides`."""
    chosen = overrides or {}
    return st.builds(
        cls,
        *[chosen[name] if name in chosen else KIND_STRATEGIES[kind] for name, kind in FIELDS[cls]],
    )


commands = fields_strategy(w.Command)
steps = fields_strategy(w.Step)
method_runs = fields_strategy(
    w.MethodRun,
    {"commands": st.lists(commands, max_size=4), "steps": st.lists(steps, max_size=4)},
)
# what a WorkflowState may buffer: every registered message without list-of-message fields
buffered = st.one_of(
    *[
        fields_strategy(cls)
        for _, cls, fields in ALL_TYPES
        if all(kind != "N" for _, kind in fields) and cls not in (w.ExecuteWorkflowTask,)
    ]
)
workflow_states = fields_strategy(
    w.WorkflowState,
    {"method_runs": st.lists(method_runs, max_size=3), "buffer": st.lists(buffered, max_size=3)},
)
execute_workflow_tasks = fields_strategy(w.ExecuteWorkflowTask, {"method_run": method_runs})
workflow_tasks_completed = fields_strategy(
    w.WorkflowTaskCompleted,
    {"new_commands": st.lists(commands, max_size=4), "new_steps": st.lists(steps, max_size=4)},
)
stored_states = fields_strategy(w.StoredState, {"state": workflow_states})
state_segments = fields_strategy(
    w.StateSegment,
    {"items": st.one_of(st.lists(commands, max_size=4), st.lists(steps, max_size=4))},
)
saved_states = fields_strategy(
    w.SavedState,
    {"state": workflow_states, "outbox": st.lists(fields_strategy(w.OutboxItem), max_size=3)},
)
LIST_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    w.StoredState: stored_states,
    w.SavedState: saved_states,
    w.StateSegment: state_segments,
    w.MethodRun: method_runs,
    w.WorkflowState: workflow_states,
    w.ExecuteWorkflowTask: execute_workflow_tasks,
    w.WorkflowTaskCompleted: workflow_tasks_completed,
}
workflow_messages = st.one_of(workflow_states, execute_workflow_tasks, workflow_tasks_completed)


def outcome(decode: Callable[[bytes], object], data: bytes) -> tuple[str, object]:
    try:
        return "ok", decode(data)
    except EnvelopeError as exc:
        return "error", str(exc)


# ------------------------------------------------------------------------ message samples


def execute_task(**changes: Any) -> ExecuteTask:
    task = ExecuteTask(
        message_id="0b8f4c1e-5d7a-4f43-9a51-4a1f0c6f5d10",
        task_id="6f9e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
        service_name="HelloService",
        task_name="greet",
        args=b'["world", 42, {"x": 1}]',
        tags=frozenset({"user:42", "batch"}),
        meta={"trace": b"\x01\x02"},
        retry_index=2,
        retry_sequence=1,
        last_error=ErrorInfo("w", "ValueError", "boom", "tb", ErrorInfo("w", "KeyError", "k", "")),
        reply_to="client-7",
        workflow_id=None,
        workflow_name="HelloWorkflow",
        method_run_id=None,
        emitted_at=1712345678.5,
    )
    return dataclasses.replace(task, **changes)


def error_chain(length: int) -> ErrorInfo:
    error = ErrorInfo("w", "E0", "m", "s")
    for level in range(1, length):
        error = ErrorInfo("w", f"E{level}", "m", "s", error)
    return error


def method_run(**changes: Any) -> w.MethodRun:
    run = w.MethodRun(
        method_run_id="run-1",
        method_name="run",
        args=b'["world"]',
        waiting_clients=["client-1", "client-2"],
        commands=[
            w.Command("c-0", 0, "task", "HelloService", "greet", b'["world"]', "h0"),
            w.Command("c-1", 1, "timer", "", "", status="completed", completed_at=3, due_at=2.5),
        ],
        steps=[w.Step(0, "sig-0", b'{"c":0}', terminated_at=2), w.Step(1, "sig-1", b"{}")],
        start_index=0,
        created_at=1712345678.0,
    )
    return dataclasses.replace(run, **changes)


def workflow_state(**changes: Any) -> w.WorkflowState:
    state = w.WorkflowState(
        workflow_id="wf-1",
        workflow_name="HelloWorkflow",
        tags=frozenset({"user:42"}),
        method_runs=[method_run()],
        buffer=[
            TaskCompleted("m-1", "c-0", "HelloService", "greet", b'"hi"'),
            w.SendSignal("m-2", "wf-1", "HelloWorkflow", "points", b"3"),
        ],
        event_index=4,
    )
    return dataclasses.replace(state, **changes)


def state_chain(levels: int) -> w.WorkflowState:
    """`levels` WorkflowStates, each buffering the next: the deepest is at depth levels - 1."""
    state = w.WorkflowState("", "", status="", properties=b"")
    for _ in range(levels - 1):
        state = w.WorkflowState("", "", status="", properties=b"", buffer=[state])
    return state


# ------------------------------------------------------------------------------- families


@dataclasses.dataclass(frozen=True)
class Family:
    """A codec's type table, a strategy for its messages, and how many examples to draw
    (the workflow states are large: fewer of them)."""

    name: str
    types: list[tuple[int, type, tuple[tuple[str, str], ...]]]
    messages: st.SearchStrategy[Any]
    examples: int
    # prefixes that make random bytes reach past the header into this family's fields
    prefixes: tuple[bytes, ...]

    def codec(self, impl: EnvelopeKernel, **kwargs: Any) -> Any:
        return impl.Codec(self.types, **kwargs)


def tag_ids_prefix() -> bytes:
    """TagIds up to (excluding) its ids field."""
    return HEADER + b"\x33" + b"\x01m\x01W\x01t"


def state_prefix() -> bytes:
    """WorkflowState up to (excluding) its method_runs field."""
    return HEADER + b"\x17" + b"\x02wf\x01W\x00\x00\x07running\x02{}\x00"


MESSAGES = Family("messages", MESSAGE_TYPES, messages, 200, (b"", HEADER, HEADER + b"\x02"))
WORKFLOW = Family(
    "workflow",
    ALL_TYPES,
    workflow_messages,
    40,
    (tag_ids_prefix(), state_prefix(), HEADER + b"\x16"),
)
FAMILIES = [pytest.param(MESSAGES, id="messages"), pytest.param(WORKFLOW, id="workflow")]


def make_codec(impl: EnvelopeKernel, **kwargs: Any) -> Any:
    return MESSAGES.codec(impl, **kwargs)


def make_workflow_codec(impl: EnvelopeKernel) -> Any:
    return WORKFLOW.codec(impl)


def examples(count: int, test: Callable[..., None], **strategies: st.SearchStrategy[Any]) -> None:
    """Runs `test` on `count` examples drawn from `strategies` (a family sets its count)."""
    settings(SETTINGS, max_examples=count)(given(**strategies)(test))()


# every registered type, with the strategy that builds a typical instance of it
EVERY_TYPE = [
    pytest.param(type_id, cls, message_strategy(cls, fields), 50, id=cls.__name__)
    for type_id, cls, fields in MESSAGE_TYPES
] + [
    pytest.param(
        type_id,
        cls,
        LIST_STRATEGIES[cls] if cls in LIST_STRATEGIES else fields_strategy(cls),
        15,
        id=cls.__name__,
    )
    for type_id, cls, fields in WORKFLOW_TYPES
]


# ------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip(envelope_impl: EnvelopeKernel, family: Family) -> None:
    codec = family.codec(envelope_impl)

    def round_trip(message: object) -> None:
        data = codec.encode(message)
        assert isinstance(data, bytes)
        assert data[:3] == HEADER
        decoded = codec.decode(data)
        assert type(decoded) is type(message)
        assert decoded == message
        assert codec.encode(decoded) == data

    examples(family.examples, round_trip, message=family.messages)


@pytest.mark.parametrize("type_id, cls, strategy, count", EVERY_TYPE)
def test_every_registered_type_round_trips(
    envelope_impl: EnvelopeKernel,
    type_id: int,
    cls: type,
    strategy: st.SearchStrategy[Any],
    count: int,
) -> None:
    codec = WORKFLOW.codec(envelope_impl)

    def round_trip(message: object) -> None:
        encoded = codec.encode(message)
        assert type(message) is cls and encoded[3] == type_id
        assert codec.decode(encoded) == message

    examples(count, round_trip, message=strategy)


def test_decoded_collections_have_the_declared_types(envelope_impl: EnvelopeKernel) -> None:
    codec = make_codec(envelope_impl)
    task = execute_task(tags={"b", "a"}, meta={"k": bytearray(b"v")}, args=memoryview(b"xy"))
    decoded = codec.decode(codec.encode(task))
    assert type(decoded.tags) is frozenset and decoded.tags == {"a", "b"}
    assert type(decoded.meta) is dict and decoded.meta == {"k": b"v"}
    assert type(decoded.meta["k"]) is bytes
    assert type(decoded.args) is bytes and decoded.args == b"xy"
    assert type(decoded.emitted_at) is float
    assert codec.decode(codec.encode(execute_task(emitted_at=3))).emitted_at == 3.0


def test_tags_are_written_sorted_and_meta_in_insertion_order(envelope_impl: EnvelopeKernel) -> None:
    codec = make_codec(envelope_impl)
    first = codec.encode(execute_task(tags=frozenset(["b", "c", "a"]), meta={"y": b"1", "x": b"2"}))
    second = codec.encode(
        execute_task(tags=frozenset(["c", "a", "b"]), meta={"y": b"1", "x": b"2"})
    )
    assert first == second
    assert b"\x03\x01a\x01b\x01c" in first
    assert b"\x02\x01y\x011\x01x\x012" in first
    decoded = codec.decode(codec.encode(execute_task(meta={"y": b"1", "x": b"2"})))
    assert list(decoded.meta) == ["y", "x"]


def test_extreme_values(envelope_impl: EnvelopeKernel) -> None:
    codec = make_codec(envelope_impl)
    for value in (I64_MIN, I64_MAX, 0, -1):
        task = execute_task(retry_index=value, retry_sequence=-value if value > I64_MIN else 0)
        assert codec.decode(codec.encode(task)) == task
    for real in (math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308):
        decoded = codec.decode(codec.encode(execute_task(emitted_at=real)))
        assert struct.pack("<d", decoded.emitted_at) == struct.pack("<d", real)
    nan = codec.decode(codec.encode(execute_task(emitted_at=math.nan))).emitted_at
    assert math.isnan(nan)
    huge = execute_task(args=b"\x00" * 200_000, tags=frozenset(str(i) for i in range(500)))
    assert codec.decode(codec.encode(huge)) == huge


def test_nesting_up_to_the_limit(envelope_impl: EnvelopeKernel) -> None:
    codec = make_codec(envelope_impl)
    deepest = error_chain(envelope_impl.MAX_DEPTH + 1)  # the top-level message is depth 0
    assert codec.decode(codec.encode(deepest)) == deepest
    task = execute_task(last_error=error_chain(envelope_impl.MAX_DEPTH))
    assert codec.decode(codec.encode(task)) == task


def test_nested_field_accepts_any_registered_type(envelope_impl: EnvelopeKernel) -> None:
    codec = make_codec(envelope_impl)
    task = execute_task(last_error=TaskCompleted("m", "t", "S", "n", b"r"))
    assert codec.decode(codec.encode(task)) == task


def test_decode_accepts_bytes_like(envelope_impl: EnvelopeKernel) -> None:
    codec = make_codec(envelope_impl)
    task = execute_task()
    data = codec.encode(task)
    assert codec.decode(bytearray(data)) == task
    assert codec.decode(memoryview(data)) == task
    assert codec.decode(memoryview(b"x" + data)[1:]) == task
    strided = bytes(b for pair in zip(data, data, strict=True) for b in pair)
    assert codec.decode(memoryview(strided)[::2]) == task


def test_plain_and_slotted_classes(envelope_impl: EnvelopeKernel) -> None:
    class Plain:
        def __init__(self, name: str, count: int) -> None:
            self.name = name
            self.count = count

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Plain) and vars(self) == vars(other)

    class Slotted:
        __slots__ = ("name", "count")

        def __init__(self, name: str, count: int) -> None:
            self.name = name
            self.count = count

    class WithProperty(Slotted):
        __slots__ = ()

        def __init__(self, name: str, count: int) -> None:
            self.name = name

        @property
        def count(self) -> int:  # type: ignore[override]  # shadows the slot: must be read through getattr
            return 99

    codec = envelope_impl.Codec(
        [
            (1, Plain, [("name", "s"), ("count", "i")]),
            (2, Slotted, [("name", "s"), ("count", "i")]),
            (3, WithProperty, [("name", "s"), ("count", "i")]),
        ]
    )
    assert codec.decode(codec.encode(Plain("a", 3))) == Plain("a", 3)
    slotted = codec.decode(codec.encode(Slotted("b", -4)))
    assert (type(slotted), slotted.name, slotted.count) == (Slotted, "b", -4)
    data = codec.encode(WithProperty("c", 5))
    assert data.endswith(b"\x01c\xc6\x01")  # the property (99), not the empty slot
    assert codec.decode(data).count == 99
    missing = Slotted.__new__(Slotted)
    with pytest.raises(EnvelopeError, match=r"cannot encode Slotted\.name: attribute is missing"):
        codec.encode(missing)
    missing.name = "x"
    with pytest.raises(EnvelopeError, match=r"cannot encode Slotted\.count: attribute is missing"):
        codec.encode(missing)
    plain = Plain.__new__(Plain)
    with pytest.raises(EnvelopeError, match=r"cannot encode Plain\.name: attribute is missing"):
        codec.encode(plain)


def test_constructor_errors_become_envelope_errors(envelope_impl: EnvelopeKernel) -> None:
    @dataclasses.dataclass
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    codec = envelope_impl.Codec([(1, Checked, [("value", "i")])])
    bad = Checked.__new__(Checked)
    bad.value = -1
    with pytest.raises(EnvelopeError, match="cannot build Checked from the envelope: negative"):
        codec.decode(codec.encode(bad))


def test_selector_exports() -> None:
    assert envelope.IMPLEMENTATION in ("c", "py")
    assert envelope.MAGIC == b"IN"
    assert envelope.FORMAT_VERSION == 1
    assert envelope.DEFAULT_MAX_SIZE == 64 * 1024 * 1024
    assert envelope.EnvelopeError is EnvelopeError
    assert issubclass(EnvelopeError, ValueError)
    module = load("envelope", envelope.IMPLEMENTATION)
    assert envelope.Codec is module.Codec


def test_max_size_property(envelope_impl: EnvelopeKernel) -> None:
    assert make_codec(envelope_impl).max_size == envelope_impl.DEFAULT_MAX_SIZE
    assert make_codec(envelope_impl, max_size=1000).max_size == 1000


def test_list_fields_decode_to_lists(envelope_impl: EnvelopeKernel) -> None:
    codec = make_workflow_codec(envelope_impl)
    state = workflow_state()
    decoded = codec.decode(codec.encode(state))
    assert decoded == state
    assert type(decoded.method_runs) is list and type(decoded.buffer) is list
    run = decoded.method_runs[0]
    assert type(run) is w.MethodRun
    assert type(run.waiting_clients) is list and run.waiting_clients == ["client-1", "client-2"]
    assert [type(item) for item in run.commands] == [w.Command, w.Command]
    assert [type(item) for item in run.steps] == [w.Step, w.Step]
    assert [type(item) for item in decoded.buffer] == [TaskCompleted, w.SendSignal]
    empty = codec.decode(codec.encode(w.WorkflowState("", "")))
    assert empty.method_runs == [] and empty.buffer == [] and type(empty.buffer) is list
    ids = codec.decode(codec.encode(w.TagIds("m", "W", "t", ["", "é", "🎉", "a\x00b"])))
    assert ids.ids == ["", "é", "🎉", "a\x00b"]


def test_list_fields_accept_tuples_and_list_subclasses(envelope_impl: EnvelopeKernel) -> None:
    class Items(list):  # type: ignore[type-arg]
        pass

    codec = make_workflow_codec(envelope_impl)
    state = workflow_state()
    run = state.method_runs[0]
    as_tuples = workflow_state(
        method_runs=(
            method_run(
                waiting_clients=tuple(run.waiting_clients),
                commands=tuple(run.commands),
                steps=Items(run.steps),
            ),
        ),
        buffer=Items(state.buffer),
    )
    data = codec.encode(as_tuples)
    assert data == codec.encode(state)
    decoded = codec.decode(data)
    assert decoded == state
    assert type(decoded.method_runs) is list and type(decoded.method_runs[0].steps) is list
    assert type(decoded.method_runs[0].waiting_clients) is list


def test_list_bytes_are_spelled_out(envelope_impl: EnvelopeKernel) -> None:
    codec = make_workflow_codec(envelope_impl)
    assert codec.encode(w.TagIds("m", "W", "t", ["ab", "é"], "r", 0.0)) == (
        HEADER
        + b"\x33"  # type id 51: TagIds
        + b"\x01m\x01W\x01t"
        + b"\x02"  # ids: 2 items
        + b"\x02ab\x02\xc3\xa9"  # each an `s`
        + b"\x01r"
        + b"\x00" * 8
    )
    step = w.Step(1, "s", b"{}", -1, "")
    state = w.WorkflowState(
        "", "", status="", properties=b"", buffer=[step, ErrorInfo("", "", "", "")]
    )
    assert codec.encode(state) == (
        HEADER
        + b"\x17"  # type id 23: WorkflowState
        + b"\x00" * 7  # workflow_id ... props_store: empty
        + b"\x00"  # method_runs: 0 items
        + b"\x00\x00\x00\x00"  # event_index, task_index: 0; running_*: None
        + b"\x02"  # buffer: 2 items
        + b"\x15"  # type id 21: Step
        + b"\x02\x01s\x02{}\x01\x00"  # position 1 (zigzag 2), signature, tree, -1 (zigzag 1), ""
        + b"\x01"  # type id 1: ErrorInfo
        + b"\x00" * 5  # four "" and no cause
        + b"\x00" * 16  # created_at, updated_at
        + b"\x00"  # dispatch_id
    )


def test_nesting_through_lists_up_to_the_limit(envelope_impl: EnvelopeKernel) -> None:
    codec = make_workflow_codec(envelope_impl)
    # A message with an `N` field cannot itself sit at MAX_DEPTH: the depth check is made on the
    # list, even an empty one (as for the twin).
    deepest = state_chain(envelope_impl.MAX_DEPTH)
    assert codec.decode(codec.encode(deepest)) == deepest
    # `n` fields under lists still reach MAX_DEPTH: task 0, run 1, command 2, errors 3..32
    run = method_run(commands=[w.Command("c", 0, "task", "S", "m", error=error_chain(30))])
    task = w.ExecuteWorkflowTask("m", "wf", "W", "t", run)
    assert codec.decode(codec.encode(task)) == task
    too_deep = w.ExecuteWorkflowTask(
        "m",
        "wf",
        "W",
        "t",
        method_run(commands=[w.Command("c", 0, "k", "", "", error=error_chain(31))]),
    )
    with pytest.raises(EnvelopeError, match=r"^cannot encode ErrorInfo\.cause: messages nested"):
        codec.encode(too_deep)


# ------------------------------------------------------------------------- decoding errors


def error_info_bytes(*strings: bytes, cause: bytes = b"\x00") -> bytes:
    out = HEADER + b"\x01"
    for raw in strings:
        out += bytes([len(raw)]) + raw
    return out + cause


VALID_ERROR_INFO = error_info_bytes(b"w", b"n", b"m", b"s")


def task_completed_prefix() -> bytes:
    """TaskCompleted up to (excluding) its meta field."""
    out = HEADER + b"\x03"
    for raw in (b"m", b"t", b"S", b"n", b"r"):
        out += bytes([len(raw)]) + raw
    return out


def deep_error_info(levels: int) -> bytes:
    """An ErrorInfo envelope whose cause chain has `levels` nested messages."""
    return HEADER + b"\x01" + (b"\x00" * 4 + b"\x01") * levels + b"\x00" * 5


def deep_state(levels: int) -> bytes:
    """A WorkflowState envelope with `levels` WorkflowStates nested through `buffer`."""
    before = b"\x00" * 12  # every field up to buffer: empty
    after = b"\x00" * 17  # created_at, updated_at, dispatch_id
    return (
        HEADER + b"\x17" + (before + b"\x01\x17") * levels + before + b"\x00" + after * (levels + 1)
    )


DECODE_ERRORS: list[tuple[str, bytes, str]] = [
    ("empty", b"", r"^envelope truncated: the header needs 3 bytes, 0 left$"),
    ("one byte", b"I", r"^envelope truncated: the header needs 3 bytes, 1 left$"),
    ("magic only", b"IN", r"^envelope truncated: the header needs 3 bytes, 2 left$"),
    ("bad magic", b"xx\x01\x01", r"^not an infinitic envelope \(bad magic b'xx'\)$"),
    ("json", b'{"a": 1}', r"^not an infinitic envelope \(bad magic b'\{\"'\)$"),
    (
        "unknown version",
        b"IN\x09\x01",
        r"^unsupported envelope format version 9 \(this release reads 1\)$",
    ),
    ("version 0", b"IN\x00\x01", r"^unsupported envelope format version 0"),
    ("no type id", HEADER, r"^envelope truncated: the type id ends inside a varint$"),
    ("unknown type id", HEADER + b"\x4d", r"^unknown envelope type id 77$"),
    ("type id 0", HEADER + b"\x00", r"^unknown envelope type id 0$"),
    ("big type id", HEADER + b"\x80\x80\x04", r"^unknown envelope type id 65536$"),
    (
        "varint too long",
        HEADER + b"\xff" * 10 + b"\x01",
        r"^varint longer than 10 bytes in the type id$",
    ),
    (
        "varint overflow",
        HEADER + b"\xff" * 9 + b"\x02",
        r"^varint overflows 64 bits in the type id$",
    ),
    (
        "cut varint",
        HEADER + b"\x01\x80",
        r"^envelope truncated: ErrorInfo\.worker_name ends inside a varint$",
    ),
    (
        "truncated str",
        HEADER + b"\x01\x78abc",
        r"^envelope truncated: ErrorInfo\.worker_name needs 120 bytes, 3 left$",
    ),
    (
        "huge length",
        HEADER + b"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        r"^envelope truncated: ErrorInfo\.worker_name needs 18446744073709551615 bytes, 0 left$",
    ),
    (
        "missing field",
        HEADER + b"\x01\x01w\x01n",
        r"^envelope truncated: ErrorInfo\.message ends inside a varint$",
    ),
    (
        "invalid utf-8",
        error_info_bytes(b"w", b"\xff\xfe", b"m", b"s"),
        r"^invalid UTF-8 in ErrorInfo\.name at envelope byte 7: invalid start byte$",
    ),
    (
        "surrogate utf-8",
        error_info_bytes(b"\xed\xa0\x80", b"n", b"m", b"s"),
        r"^invalid UTF-8 in ErrorInfo\.worker_name at envelope byte 5",
    ),
    (
        "trailing bytes",
        VALID_ERROR_INFO + b"\x00\x00",
        r"^trailing bytes after the envelope: 2 after ErrorInfo$",
    ),
    (
        "unknown nested type",
        error_info_bytes(b"w", b"n", b"m", b"s", cause=b"\x09"),
        r"^unknown envelope type id 9 in ErrorInfo\.cause$",
    ),
    (
        "too deep",
        deep_error_info(33),
        r"^envelope nested deeper than 32 at ErrorInfo\.cause$",
    ),
    (
        "far too deep",
        deep_error_info(100_000),
        r"^envelope nested deeper than 32 at ErrorInfo\.cause$",
    ),
    (
        "bytes too long",
        HEADER + b"\x03" + b"\x01m\x01t\x01S\x01n" + b"\x7f" + b"r" * 5,
        r"^envelope truncated: TaskCompleted\.result needs 127 bytes, 5 left$",
    ),
    (
        "meta count",
        task_completed_prefix() + b"\xe8\x07\x01k\x01v",
        r"^envelope truncated: TaskCompleted\.meta count 1000 needs at least 2000 bytes, 4 left$",
    ),
    (
        "meta value too long",
        task_completed_prefix() + b"\x01\x01k\x05v",
        r"^envelope truncated: TaskCompleted\.meta needs 5 bytes, 1 left$",
    ),
    (
        "presence byte",
        task_completed_prefix() + b"\x00\x02",
        r"^invalid presence byte 2 in TaskCompleted\.reply_to \(expected 0 or 1\)$",
    ),
    (
        "missing presence byte",
        task_completed_prefix() + b"\x00",
        r"^envelope truncated: TaskCompleted\.reply_to needs 1 byte, 0 left$",
    ),
    (
        "truncated float",
        task_completed_prefix() + b"\x00\x00\x00\x00\x00" + b"\x00" * 3,
        r"^envelope truncated: TaskCompleted\.emitted_at needs 8 bytes, 3 left$",
    ),
    (
        "tags count",
        HEADER + b"\x02" + b"\x01m\x01t\x01S\x01n\x01a" + b"\xe8\x07\x00",
        r"^envelope truncated: ExecuteTask\.tags count 1000 needs at least 1000 bytes, 1 left$",
    ),
    (
        "int varint too long",
        HEADER + b"\x02" + b"\x01m\x01t\x01S\x01n\x01a\x00\x00" + b"\x80" * 11,
        r"^varint longer than 10 bytes in ExecuteTask\.retry_index$",
    ),
]
WORKFLOW_DECODE_ERRORS: list[tuple[str, bytes, str]] = [
    (
        "L count",
        tag_ids_prefix() + b"\xe8\x07\x01a",
        r"^envelope truncated: TagIds\.ids count 1000 needs at least 1000 bytes, 2 left$",
    ),
    (
        "L huge count",
        tag_ids_prefix() + b"\xff" * 9 + b"\x01",
        r"^envelope truncated: TagIds\.ids count 18446744073709551615 needs at least "
        r"18446744073709551615 bytes, 0 left$",
    ),
    (
        "L count cut",
        tag_ids_prefix() + b"\x80",
        r"^envelope truncated: TagIds\.ids ends inside a varint$",
    ),
    (
        "L item too long",
        tag_ids_prefix() + b"\x02\x01a\x05b",
        r"^envelope truncated: TagIds\.ids needs 5 bytes, 1 left$",
    ),
    (
        "L item cut",
        tag_ids_prefix() + b"\x01\x80",
        r"^envelope truncated: TagIds\.ids ends inside a varint$",
    ),
    (
        "L item invalid utf-8",
        tag_ids_prefix() + b"\x02\x01a\x02\xc3\x28",
        r"^invalid UTF-8 in TagIds\.ids at envelope byte 14: invalid continuation byte$",
    ),
    (
        "field after L missing",
        tag_ids_prefix() + b"\x01\x01a",
        r"^envelope truncated: TagIds\.request_id ends inside a varint$",
    ),
    (
        "N count",
        state_prefix() + b"\x64" + b"\x16" * 3,
        r"^envelope truncated: WorkflowState\.method_runs count 100 needs at least 100 bytes, "
        r"3 left$",
    ),
    (
        "N count cut",
        state_prefix() + b"\xff",
        r"^envelope truncated: WorkflowState\.method_runs ends inside a varint$",
    ),
    (
        "N item type id cut",
        state_prefix() + b"\x01\x80",
        r"^envelope truncated: WorkflowState\.method_runs ends inside a varint$",
    ),
    (
        "unknown type id in N",
        state_prefix() + b"\x01\x4d" + b"\x00" * 40,
        r"^unknown envelope type id 77 in WorkflowState\.method_runs$",
    ),
    (
        "big unknown type id in N",
        state_prefix() + b"\x01\x80\x80\x04" + b"\x00" * 40,
        r"^unknown envelope type id 65536 in WorkflowState\.method_runs$",
    ),
    (
        "type id 0 in N",
        state_prefix() + b"\x01\x00" + b"\x00" * 40,
        r"^unknown envelope type id 0 in WorkflowState\.method_runs$",
    ),
    (
        "second N item unknown",
        state_prefix() + b"\x02\x15\x00\x00\x00\x00\x00\x00" + b"\x00" * 40,
        r"^unknown envelope type id 0 in WorkflowState\.method_runs$",
    ),
    (
        "N item varint too long",
        state_prefix() + b"\x01" + b"\xff" * 10 + b"\x01",
        r"^varint longer than 10 bytes in WorkflowState\.method_runs$",
    ),
    (
        "N item truncated",
        state_prefix() + b"\x01\x15\x02\x01s",
        r"^envelope truncated: Step\.tree ends inside a varint$",
    ),
    (
        "too deep through lists",
        deep_state(32),
        r"^envelope nested deeper than 32 at WorkflowState\.method_runs$",
    ),
    (
        "far too deep through lists",
        deep_state(50_000),
        r"^envelope nested deeper than 32 at WorkflowState\.method_runs$",
    ),
    (
        "trailing bytes after lists",
        deep_state(3) + b"\x00",
        r"^trailing bytes after the envelope: 1 after WorkflowState$",
    ),
]
# (case id, family, envelope bytes, the message it must be refused with)
ALL_DECODE_ERRORS = [
    pytest.param(MESSAGES, data, message, id=name) for name, data, message in DECODE_ERRORS
] + [
    pytest.param(WORKFLOW, data, message, id=name) for name, data, message in WORKFLOW_DECODE_ERRORS
]


@pytest.mark.parametrize("family, data, message", ALL_DECODE_ERRORS)
def test_decode_errors(
    envelope_impl: EnvelopeKernel, family: Family, data: bytes, message: str
) -> None:
    with pytest.raises(EnvelopeError, match=message):
        family.codec(envelope_impl).decode(data)


def test_valid_samples_used_by_error_cases(envelope_impl: EnvelopeKernel) -> None:
    codec = make_codec(envelope_impl)
    assert codec.decode(VALID_ERROR_INFO) == ErrorInfo("w", "n", "m", "s")
    deepest = codec.decode(deep_error_info(32))
    depth = 0
    while deepest.cause is not None:
        deepest = deepest.cause
        depth += 1
    assert depth == 32
    completed = task_completed_prefix() + b"\x00\x00\x00\x00\x00" + struct.pack("<d", 2.5)
    assert codec.decode(completed) == TaskCompleted("m", "t", "S", "n", b"r", emitted_at=2.5)


def test_valid_samples_used_by_list_error_cases(envelope_impl: EnvelopeKernel) -> None:
    codec = make_workflow_codec(envelope_impl)
    ids = codec.decode(tag_ids_prefix() + b"\x02\x01a\x01b\x00" + b"\x00" * 8)
    assert ids == w.TagIds("m", "W", "t", ["a", "b"], "", 0.0)
    deepest = codec.decode(deep_state(31))
    depth = 0
    while deepest.buffer:
        (deepest,) = deepest.buffer
        depth += 1
    assert depth == 31
    assert codec.encode(state_chain(32)) == deep_state(31)
    step = state_prefix() + b"\x01\x15\x02\x01s\x00\x01\x00" + b"\x00" * 22
    decoded = codec.decode(step)
    assert decoded.method_runs == [w.Step(1, "s", b"", -1, "")]


def test_oversized_input_is_refused_before_parsing(envelope_impl: EnvelopeKernel) -> None:
    codec = make_codec(envelope_impl, max_size=16)
    data = codec.encode(ErrorInfo("w", "n", "m", "s"))
    assert codec.decode(data) == ErrorInfo("w", "n", "m", "s")
    big = b"garbage!" * 3
    for candidate in (big, bytearray(big), memoryview(big)):
        with pytest.raises(EnvelopeError, match=r"^envelope too large: 24 bytes \(limit 16\)$"):
            codec.decode(candidate)


def test_decode_rejects_non_bytes(envelope_impl: EnvelopeKernel) -> None:
    codec = make_codec(envelope_impl)
    for value in ("IN\x01", None, 12, [1, 2]):
        with pytest.raises(EnvelopeError, match="expected bytes, bytearray or memoryview"):
            codec.decode(value)


@SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes_never_raise_anything_else(envelope_impl: EnvelopeKernel, data: bytes) -> None:
    codec = make_codec(envelope_impl)
    for candidate in (data, HEADER + data, HEADER + b"\x02" + data, HEADER + b"\x01" + data):
        try:
            codec.decode(candidate)
        except EnvelopeError as exc:
            assert str(exc)


@SETTINGS
@given(message=messages, data=st.data())
def test_truncations_and_bit_flips(
    envelope_impl: EnvelopeKernel, message: object, data: Any
) -> None:
    codec = make_codec(envelope_impl)
    encoded = codec.encode(message)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(EnvelopeError):
        codec.decode(encoded[:cut])
    position = data.draw(st.integers(0, len(encoded) - 1))
    flipped = bytearray(encoded)
    flipped[position] ^= 1 << data.draw(st.integers(0, 7))
    try:
        decoded = codec.decode(bytes(flipped))
    except EnvelopeError:
        return
    assert type(decoded) in {cls for _, cls, _ in MESSAGE_TYPES}


# ------------------------------------------------------------------------- encoding errors

ENCODE_ERRORS: list[tuple[str, object, str]] = [
    (
        "unregistered",
        object(),
        r"^cannot encode object: not a registered envelope type$",
    ),
    (
        "bytes for str",
        execute_task(task_id=b"x"),
        r"^cannot encode ExecuteTask\.task_id: expected str, got bytes$",
    ),
    (
        "int for optional str",
        execute_task(reply_to=3),
        r"^cannot encode ExecuteTask\.reply_to: expected str or None, got int$",
    ),
    (
        "str for bytes",
        execute_task(args="x"),
        r"^cannot encode ExecuteTask\.args: expected bytes, got str$",
    ),
    (
        "float for int",
        execute_task(retry_index=1.0),
        r"^cannot encode ExecuteTask\.retry_index: expected int, got float$",
    ),
    (
        "bool for int",
        execute_task(retry_index=True),
        r"^cannot encode ExecuteTask\.retry_index: expected int, got bool$",
    ),
    (
        "int too large",
        execute_task(retry_index=2**63),
        r"^cannot encode ExecuteTask\.retry_index: 9223372036854775808 is out of the signed "
        r"64-bit range$",
    ),
    (
        "int too small",
        execute_task(retry_sequence=-(2**63) - 1),
        r"^cannot encode ExecuteTask\.retry_sequence: -9223372036854775809 is out of the signed "
        r"64-bit range$",
    ),
    (
        "str for float",
        execute_task(emitted_at="now"),
        r"^cannot encode ExecuteTask\.emitted_at: expected float, got str$",
    ),
    (
        "float overflow",
        execute_task(emitted_at=10**400),
        r"^cannot encode ExecuteTask\.emitted_at: 1000.* is too large for a float$",
    ),
    (
        "list for tags",
        execute_task(tags=["a"]),
        r"^cannot encode ExecuteTask\.tags: expected frozenset\[str\], got list$",
    ),
    (
        "non-str tag",
        execute_task(tags=frozenset({"a", 1})),
        r"^cannot encode ExecuteTask\.tags: tags must be str, got int$",
    ),
    (
        "list for meta",
        execute_task(meta=[("k", b"v")]),
        r"^cannot encode ExecuteTask\.meta: expected dict\[str, bytes\], got list$",
    ),
    (
        "non-str meta key",
        execute_task(meta={b"k": b"v"}),
        r"^cannot encode ExecuteTask\.meta: keys must be str, got bytes$",
    ),
    (
        "non-bytes meta value",
        execute_task(meta={"k": "v"}),
        r"^cannot encode ExecuteTask\.meta\['k'\]: expected bytes, got str$",
    ),
    (
        "unregistered nested",
        execute_task(last_error=ValueError("x")),
        r"^cannot encode ExecuteTask\.last_error: ValueError is not a registered envelope type$",
    ),
    (
        "wrong nested field",
        TaskFailed("m", "t", "S", "n", ErrorInfo("w", "n", 3, "s")),  # type: ignore[arg-type]
        r"^cannot encode ErrorInfo\.message: expected str, got int$",
    ),
    (
        "surrogate",
        execute_task(service_name="a\udcffb"),
        r"^cannot encode ExecuteTask\.service_name: str is not encodable as UTF-8 "
        r"\(surrogates not allowed\)$",
    ),
    (
        "surrogate tag",
        execute_task(tags=frozenset({"\ud800"})),
        r"^cannot encode ExecuteTask\.tags: str is not encodable as UTF-8",
    ),
    (
        "too deep",
        execute_task(last_error=error_chain(33)),
        r"^cannot encode ErrorInfo\.cause: messages nested deeper than 32$",
    ),
]
WORKFLOW_ENCODE_ERRORS: list[tuple[str, object, str]] = [
    (
        "str for L",
        w.TagIds("m", "W", "t", "ab"),  # type: ignore[arg-type]
        r"^cannot encode TagIds\.ids: expected list\[str\], got str$",
    ),
    (
        "set for L",
        w.TagIds("m", "W", "t", {"a"}),  # type: ignore[arg-type]
        r"^cannot encode TagIds\.ids: expected list\[str\], got set$",
    ),
    (
        "None for L",
        w.TagIds("m", "W", "t", None),  # type: ignore[arg-type]
        r"^cannot encode TagIds\.ids: expected list\[str\], got NoneType$",
    ),
    (
        "non-str L item",
        w.TagIds("m", "W", "t", ["a", b"b"]),  # type: ignore[list-item]
        r"^cannot encode TagIds\.ids: items must be str, got bytes$",
    ),
    (
        "non-str L item in a nested message",
        workflow_state(method_runs=[method_run(waiting_clients=["a", None])]),
        r"^cannot encode MethodRun\.waiting_clients: items must be str, got NoneType$",
    ),
    (
        "surrogate L item",
        w.TagIds("m", "W", "t", ["a", "\ud800"]),
        r"^cannot encode TagIds\.ids: str is not encodable as UTF-8 \(surrogates not allowed\)$",
    ),
    (
        "dict for N",
        workflow_state(buffer={}),
        r"^cannot encode WorkflowState\.buffer: expected a list of messages, got dict$",
    ),
    (
        "None for N",
        workflow_state(method_runs=None),
        r"^cannot encode WorkflowState\.method_runs: expected a list of messages, got NoneType$",
    ),
    (
        "message for N",
        workflow_state(method_runs=method_run()),
        r"^cannot encode WorkflowState\.method_runs: expected a list of messages, got MethodRun$",
    ),
    (
        "unregistered N item",
        workflow_state(buffer=[TaskCompleted("m", "t", "S", "n", b""), object()]),
        r"^cannot encode WorkflowState\.buffer: object is not a registered envelope type$",
    ),
    (
        "None N item",
        workflow_state(buffer=[None]),
        r"^cannot encode WorkflowState\.buffer: NoneType is not a registered envelope type$",
    ),
    (
        "list N item",
        workflow_state(method_runs=[[method_run()]]),
        r"^cannot encode WorkflowState\.method_runs: list is not a registered envelope type$",
    ),
    (
        "bad field in an N item",
        workflow_state(method_runs=[method_run(commands=[w.Command("c", "0", "k", "", "")])]),
        r"^cannot encode Command\.position: expected int, got str$",
    ),
    (
        "too deep through lists",
        state_chain(33),
        r"^cannot encode WorkflowState\.method_runs: messages nested deeper than 32$",
    ),
    (
        "list too deep even when empty",
        w.WorkflowState("", "", buffer=[state_chain(32)]),
        r"^cannot encode WorkflowState\.method_runs: messages nested deeper than 32$",
    ),
]
ALL_ENCODE_ERRORS = [
    pytest.param(MESSAGES, message, error, id=name) for name, message, error in ENCODE_ERRORS
] + [
    pytest.param(WORKFLOW, message, error, id=name)
    for name, message, error in WORKFLOW_ENCODE_ERRORS
]


@pytest.mark.parametrize("family, message, error", ALL_ENCODE_ERRORS)
def test_encode_errors(
    envelope_impl: EnvelopeKernel, family: Family, message: object, error: str
) -> None:
    with pytest.raises(EnvelopeError, match=error):
        family.codec(envelope_impl).encode(message)


def cyclic_error() -> object:
    error = ErrorInfo("w", "n", "m", "s")
    error.cause = error
    return error


def cyclic_state() -> object:
    state = w.WorkflowState("wf", "W")
    state.buffer.append(state)
    return state


def cyclic_buffers() -> object:
    buffer: list[Any] = []
    outer = w.WorkflowState("wf", "W", buffer=[w.WorkflowState("wf2", "W", buffer=buffer)])
    buffer.append(outer)
    return outer


@pytest.mark.parametrize(
    "family, build",
    [
        pytest.param(MESSAGES, cyclic_error, id="nested"),
        pytest.param(WORKFLOW, cyclic_state, id="list"),
        pytest.param(WORKFLOW, cyclic_buffers, id="list of lists"),
    ],
)
def test_cycles_are_refused(
    envelope_impl: EnvelopeKernel, family: Family, build: Callable[[], object]
) -> None:
    with pytest.raises(EnvelopeError, match=r"nested deeper than 32$"):
        family.codec(envelope_impl).encode(build())


# ------------------------------------------------------------------------ construction errors


@dataclasses.dataclass
class Pair:
    left: str
    right: int


@dataclasses.dataclass
class Later:
    value: int
    computed: int = dataclasses.field(init=False, default=0)


CONSTRUCTION_ERRORS: list[tuple[str, Any, str]] = [
    (
        "duplicate id",
        [(1, Pair, [("left", "s"), ("right", "i")]), (1, ErrorInfo, MESSAGE_TYPES[0][2])],
        r"duplicate envelope type id 1 \(Pair and ErrorInfo\)",
    ),
    (
        "duplicate class",
        [(1, Pair, [("left", "s"), ("right", "i")]), (2, Pair, [("left", "s"), ("right", "i")])],
        r"Pair is registered twice",
    ),
    (
        "unknown kind",
        [(1, Pair, [("left", "x"), ("right", "i")])],
        r"unknown envelope field kind 'x'",
    ),
    (
        "long kind",
        [(1, Pair, [("left", "ss"), ("right", "i")])],
        r"unknown envelope field kind 'ss'",
    ),
    (
        "wrong order",
        [(1, Pair, [("right", "i"), ("left", "s")])],
        r"Pair: envelope fields \('right', 'left'\) do not match the dataclass fields",
    ),
    (
        "missing field",
        [(1, Pair, [("left", "s")])],
        r"do not match the dataclass fields \('left', 'right'\)",
    ),
    (
        "extra field",
        [(1, Pair, [("left", "s"), ("right", "i"), ("more", "i")])],
        r"do not match the dataclass fields",
    ),
    (
        "misspelt field",
        [(1, Pair, [("left", "s"), ("rigth", "i")])],
        r"do not match the dataclass fields",
    ),
    ("non-init field", [(1, Later, [("value", "i"), ("computed", "i")])], r"__init__ fields"),
    (
        "type id 0",
        [(0, Pair, [("left", "s"), ("right", "i")])],
        r"must be an int in \[1, 2\*\*63\)",
    ),
    ("type id bool", [(True, Pair, [("left", "s"), ("right", "i")])], r"must be an int"),
    ("type id too big", [(2**63, Pair, [("left", "s"), ("right", "i")])], r"must be an int"),
    ("not a class", [(1, Pair("a", 2), [])], r"is not a class"),
    ("not a triple", [(1, Pair)], r"is not \(type id, class, fields\)"),
    ("bad pair", [(1, Pair, [("left", "s", "x"), ("right", "i")])], r"not a \(name, kind\) pair"),
    ("bad name", [(1, Pair, [(3, "s"), ("right", "i")])], r"is not an identifier"),
    (
        "twice",
        [(1, Pair, [("left", "s"), ("left", "s")])],
        r"Pair\.left: envelope field listed twice",
    ),
]


@pytest.mark.parametrize(
    "types, error",
    [case[1:] for case in CONSTRUCTION_ERRORS],
    ids=[case[0] for case in CONSTRUCTION_ERRORS],
)
def test_construction_errors(envelope_impl: EnvelopeKernel, types: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error) as info:
        envelope_impl.Codec(types)
    assert not isinstance(info.value, EnvelopeError)


@pytest.mark.parametrize("max_size", [0, 2, -1, True, "1", 1.5])
def test_invalid_max_size(envelope_impl: EnvelopeKernel, max_size: Any) -> None:
    with pytest.raises(ValueError, match="max_size"):
        envelope_impl.Codec(MESSAGE_TYPES, max_size=max_size)


# ------------------------------------------------------------------------------------ parity


@pytest.mark.c_extension
def test_modules_have_the_same_names_and_docstrings() -> None:
    py, c = envelope_pair()
    names: list[str] = getattr(py, "__all__")  # noqa: B009
    assert names == getattr(c, "__all__")  # noqa: B009
    for name in names:
        assert getattr(py, name) == getattr(c, name) or name == "Codec", name
    for name in ("Codec", "Codec.encode", "Codec.decode", "Codec.max_size"):
        py_obj: Any = py
        c_obj: Any = c
        for part in name.split("."):
            py_obj = getattr(py_obj, part)
            c_obj = getattr(c_obj, part)
        assert py_obj.__doc__, name
        assert inspect.cleandoc(py_obj.__doc__) in inspect.cleandoc(c_obj.__doc__ or ""), name


@pytest.mark.c_extension
@pytest.mark.parametrize("family", FAMILIES)
def test_compiled_and_twin_give_identical_bytes(family: Family) -> None:
    py, c = (family.codec(impl) for impl in envelope_pair())

    def same(message: object) -> None:
        data = py.encode(message)
        assert c.encode(message) == data
        assert c.decode(data) == py.decode(data)

    examples(family.examples, same, message=family.messages)


@pytest.mark.c_extension
@pytest.mark.parametrize("family", FAMILIES)
def test_compiled_and_twin_agree_on_random_bytes(family: Family) -> None:
    py, c = (family.codec(impl) for impl in envelope_pair())

    def same(data: bytes) -> None:
        for prefix in family.prefixes:
            assert outcome(c.decode, prefix + data) == outcome(py.decode, prefix + data)

    examples(family.examples, same, data=st.binary(max_size=64))


@pytest.mark.c_extension
@pytest.mark.parametrize("family", FAMILIES)
def test_compiled_and_twin_agree_on_corrupted_envelopes(family: Family) -> None:
    py, c = (family.codec(impl) for impl in envelope_pair())

    def same(message: object, data: Any) -> None:
        encoded = py.encode(message)
        cut = data.draw(st.integers(0, len(encoded)))
        flip = data.draw(st.integers(0, len(encoded) * 8 - 1))
        flipped = bytearray(encoded)
        flipped[flip // 8] ^= 1 << (flip % 8)
        for candidate in (encoded[:cut], bytes(flipped), encoded + b"\x00"):
            # compared by repr: a flipped bit can make a float NaN (an `inf` with a mantissa
            # bit set), and NaN != NaN though both decoders read the same value
            assert repr(outcome(c.decode, candidate)) == repr(outcome(py.decode, candidate))

    examples(family.examples, same, message=family.messages, data=st.data())


BAD_MESSAGES: list[object] = [
    execute_task(args="text"),
    execute_task(retry_index=2**63),
    execute_task(retry_index=True),
    execute_task(tags=frozenset({1})),
    execute_task(tags=["a"]),
    execute_task(meta={"k": "v"}),
    execute_task(meta={1: b"v"}),
    execute_task(last_error=object()),
    execute_task(reply_to=3),
    execute_task(task_id="\ud800"),
    execute_task(emitted_at="now"),
    execute_task(emitted_at=10**400),
    execute_task(last_error=error_chain(40)),
    object(),
]


@pytest.mark.c_extension
@pytest.mark.parametrize(
    "family, message",
    [pytest.param(MESSAGES, message, id=f"bad{i}") for i, message in enumerate(BAD_MESSAGES)]
    + [pytest.param(WORKFLOW, message, id=name) for name, message, _ in WORKFLOW_ENCODE_ERRORS],
)
def test_compiled_and_twin_give_identical_encode_errors(family: Family, message: object) -> None:
    py, c = (family.codec(impl) for impl in envelope_pair())
    with pytest.raises(EnvelopeError) as py_error:
        py.encode(message)
    with pytest.raises(EnvelopeError) as c_error:
        c.encode(message)
    assert str(c_error.value) == str(py_error.value)


@pytest.mark.c_extension
@pytest.mark.parametrize("family, data, message", ALL_DECODE_ERRORS)
def test_compiled_and_twin_give_identical_decode_errors(
    family: Family, data: bytes, message: str
) -> None:
    py, c = (family.codec(impl) for impl in envelope_pair())
    assert outcome(c.decode, data) == outcome(py.decode, data)


@pytest.mark.c_extension
def test_lists_changed_while_encoding_give_the_twins_bytes() -> None:
    """A list shrinking or growing under the encoder (from a property) is read like a list
    iterator reads it: no crash, same (inconsistent) bytes as the twin."""
    shared: list[Any] = []

    class Holder:
        __slots__ = ("items", "names")

        def __init__(self, items: list[Any], names: list[str]) -> None:
            self.items = items
            self.names = names

    class Popper:
        @property
        def value(self) -> int:
            if shared:
                shared.pop()
            return len(shared)

    class Pusher:
        @property
        def value(self) -> int:
            if len(shared) < 6:
                shared.append(Pusher())
            return len(shared)

    types = [
        (1, Holder, [("items", "N"), ("names", "L")]),
        (2, Popper, [("value", "i")]),
        (3, Pusher, [("value", "i")]),
    ]
    results = []
    for module in envelope_pair():
        codec = module.Codec(types)
        outputs = []
        shared[:] = [Popper() for _ in range(4)]
        outputs.append(codec.encode(Holder(shared, ["a"])))
        shared[:] = [Pusher()]
        outputs.append(codec.encode(Holder(shared, ["b"])))
        results.append(outputs)
    assert results[0] == results[1]
