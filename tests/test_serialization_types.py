"""The serialization gaps closed: timedelta, NamedTuple, TypedDict, NewType and abstract
collections round trip; an annotation the decoder does not know is a SerializationError at the
call; a remote exception is matched by its type (`err.last_error.exception_type`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from infinitic import InfiniticWorker, SerializationError, TaskFailedError
from infinitic.common.serialization import convert, dumps, loads, unsupported
from tests.typed_services import (
    CardDeclined,
    ExpiredCard,
    Opaque,
    Point,
    Span,
    TypedService,
    TypedWorkflow,
    UserId,
)


def roundtrip(value: Any, tp: Any) -> Any:
    return convert(loads(dumps(value)), tp)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (dt.timedelta(0), "PT0S"),
        (dt.timedelta(days=30), "P30D"),
        (dt.timedelta(hours=1, microseconds=5), "PT3600.000005S"),
        (dt.timedelta(days=-1, seconds=1), "-PT86399S"),
        (dt.timedelta(days=2, seconds=3, microseconds=500_000), "P2DT3.5S"),
        (dt.timedelta.max, "P999999999DT86399.999999S"),
    ],
)
def test_timedelta_is_an_exact_iso_8601_duration(delta: dt.timedelta, text: str) -> None:
    assert dumps(delta) == f'"{text}"'.encode()
    assert roundtrip(delta, dt.timedelta) == delta


def test_timedelta_reads_other_durations_and_seconds() -> None:
    assert convert("P1W2DT3H4M5.5S", dt.timedelta) == dt.timedelta(
        weeks=1, days=2, hours=3, minutes=4, seconds=5.5
    )
    assert convert(90.5, dt.timedelta) == dt.timedelta(seconds=90.5)
    for bad in ("P1Y", "P1M", "P", "PT", "1 hour", True):
        with pytest.raises(SerializationError):
            convert(bad, dt.timedelta, "a delay")


def test_named_tuple_comes_back_as_itself() -> None:
    point = Point(1, 2.0, "a")
    back = roundtrip([point, Point(3, 4.5)], list[Point])
    assert back == [point, Point(3, 4.5)] and all(type(p) is Point for p in back)
    assert convert({"x": 1, "y": 2}, Point) == Point(1, 2.0)  # an object is read too
    with pytest.raises(SerializationError, match="Point"):
        convert([1, 2, "a", "extra"], Point)


def test_typed_dict_new_type_and_abstract_collections() -> None:
    when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    spans = {UserId(7): Span(start=when, length=dt.timedelta(minutes=5))}
    from collections.abc import Mapping

    assert roundtrip(spans, Mapping[UserId, Span]) == spans


@pytest.mark.parametrize(
    ("tp", "found"),
    [
        (Opaque, Opaque),
        (list[Opaque], Opaque),
        (dict[str, tuple[int, Opaque]], Opaque),
        (Point | Opaque, Opaque),
        (complex, complex),
        (list[Point], None),
        (dt.timedelta | None, None),
        (Span, None),
    ],
)
def test_unsupported_finds_the_unknown_type(tp: Any, found: Any) -> None:
    assert unsupported(tp) is found


def test_decoding_into_an_unknown_type_is_refused() -> None:
    with pytest.raises(SerializationError, match="no decoder for Opaque"):
        convert({"value": 1}, Opaque, "a result")


@pytest.fixture(scope="module")
def worker() -> Iterator[InfiniticWorker]:
    config = {
        "name": "typed",
        "transport": {"inMemory": {"channel": "typed-serialization"}},
        "services": [
            {
                "name": "TypedService",
                "class": "tests.typed_services.TypedServiceImpl",
                "retry": {"maximumRetries": 0},
            }
        ],
        "workflows": [{"name": "TypedWorkflow", "class": "tests.typed_services.TypedWorkflowImpl"}],
    }
    with InfiniticWorker.from_config(config) as running:
        running.start()
        yield running


def test_the_new_types_travel_through_a_task_and_a_workflow(worker: InfiniticWorker) -> None:
    service = worker.client.new_service(TypedService)
    shifted = service.shift(dt.timedelta(seconds=2), [Point(1, 0.5, "p")])
    assert shifted == [Point(3, 2.5, "p")] and type(shifted[0]) is Point
    when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    lengths = service.spans({UserId(1): Span(start=when, length=dt.timedelta(hours=1))})
    assert lengths == {1: dt.timedelta(hours=2)}
    result = worker.client.new_workflow(TypedWorkflow).run(dt.timedelta(seconds=1))
    assert result == [Point(2, 3.5, "a")] and type(result[0]) is Point


def test_an_unknown_annotation_fails_at_the_call(worker: InfiniticWorker) -> None:
    service = worker.client.new_service(TypedService)
    with pytest.raises(
        SerializationError, match="TypedService.opaque: parameter 'value' is annotated Opaque"
    ):
        service.opaque(Opaque(1))
    with pytest.raises(
        SerializationError, match="TypedService.opaque_result: the result is annotated Opaque"
    ):
        worker.client.dispatch(service.opaque_result, 1)
    # inside a workflow the call raises too, where the workflow can catch it
    message = "cannot call TypedService.opaque: parameter 'value' is annotated Opaque; "
    assert worker.client.new_workflow(TypedWorkflow).opaque() < -len(message)


def test_a_remote_exception_is_matched_by_type(worker: InfiniticWorker) -> None:
    service = worker.client.new_service(TypedService)
    with pytest.raises(TaskFailedError) as info:
        worker.client.dispatch(service.pay, 5).result(timeout=30)
    error = info.value.last_error
    assert error.name == "tests.typed_services.ExpiredCard"
    assert error.exception_type is ExpiredCard
    assert issubclass(error.exception_type, CardDeclined)


def test_an_exception_type_is_resolved_only_from_imported_modules() -> None:
    from infinitic.common.messages import ErrorInfo

    def info(name: str) -> ErrorInfo:
        return ErrorInfo("w", name, "m", "")

    assert info("ValueError").exception_type is ValueError
    assert info("infinitic.errors.TaskFailedError").exception_type is TaskFailedError
    assert info("tests.never_imported_module.Error").exception_type is None
    assert info("os.path").exception_type is None  # not an exception class
