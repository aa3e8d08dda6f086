"""Payloads: JSON through orjson, decoded into the annotated types."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import pytest

from infinitic import SerializationError
from infinitic.common.serialization import CLASS_KEY, convert, dumps, encode_args, loads


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Inner:
    when: dt.datetime
    ids: set[uuid.UUID]


@dataclass
class Outer:
    name: str
    inner: list[Inner]
    level: Level
    by_day: dict[dt.date, int] = field(default_factory=dict)
    maybe: Optional[Inner] = None  # noqa: UP045 - the old spelling must work too
    raw: bytes = b""
    price: decimal.Decimal = decimal.Decimal("0")
    pair: tuple[int, str] = (0, "")
    mode: Literal["a", "b"] = "a"


def roundtrip(value: Any, tp: Any) -> Any:
    return convert(loads(dumps(value)), tp)


def test_nested_dataclasses_roundtrip() -> None:
    value = Outer(
        "x",
        [Inner(dt.datetime(2026, 5, 1, 12, tzinfo=dt.timezone.utc), {uuid.UUID(int=5)})],
        Level.HIGH,
        {dt.date(2026, 1, 1): 3},
        None,
        b"\x00\xff",
        decimal.Decimal("1.10"),
        (4, "four"),
        "b",
    )
    assert roundtrip(value, Outer) == value


@pytest.mark.parametrize(
    ("value", "tp"),
    [
        ([1, 2], list[int]),
        ({"1": "a"}, dict[int, str]),
        ((1, 2, 3), tuple[int, ...]),
        (frozenset({"a"}), frozenset[str]),
        (None, int | None),
        (3, int | str),
        ("s", int | str),
        (dt.time(1, 2), dt.time),
    ],
)
def test_containers_and_unions(value: Any, tp: Any) -> None:
    expected = {1: "a"} if value == {"1": "a"} else value
    assert roundtrip(value, tp) == expected


@pytest.mark.parametrize(
    ("data", "tp", "fragment"),
    [
        (b'"x"', int, "not a valid int"),
        (b"true", int, "not a valid int"),
        (b'{"name": 1}', Outer, "Outer.name"),
        (b"[1]", dict[str, int], "expected dict"),
        (b'"c"', Literal["a", "b"], "not a valid"),
        (b"3", Level, "cannot decode value as Level"),
        (b"1", None, "expected null"),
    ],
)
def test_bad_values_name_the_problem(data: bytes, tp: Any, fragment: str) -> None:
    with pytest.raises(SerializationError, match=fragment):
        convert(loads(data), tp)


def test_unserializable_argument_is_named() -> None:
    with pytest.raises(SerializationError, match="argument 'b' of S.m"):
        encode_args([1, object()], ["a", "b"], "S.m")


def test_oversized_and_malformed_payloads() -> None:
    with pytest.raises(SerializationError, match="over the limit"):
        loads(b"[" + b"1," * 100 + b"1]", max_bytes=50)
    with pytest.raises(SerializationError, match="cannot decode"):
        loads(b"[1,")


@dataclass
class _Shape:
    name: str = ""


@dataclass
class _Circle(_Shape):
    radius: float = 0.0


def test_a_subclass_of_the_declared_type_comes_back_as_itself() -> None:
    data = dumps(_Circle("c", 2.0), declared=_Shape)
    decoded = convert(loads(data), _Shape)
    assert type(decoded) is _Circle and decoded == _Circle("c", 2.0)
    # the declared type itself carries no class: its payload is unchanged
    assert dumps(_Shape("s"), declared=_Shape) == b'{"name":"s"}'


def test_only_subclasses_of_the_declared_type_are_built() -> None:
    payload = {"name": "x", CLASS_KEY: "subprocess.Popen"}
    with pytest.raises(SerializationError, match="not _Shape or a subclass"):
        convert(payload, _Shape)
