"""A workflow method's arguments decode as a task's do: one path, errors naming what was wrong."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import pytest

from infinitic import Workflow, name
from infinitic.common.spec import describe
from infinitic.errors import SerializationError

LIMIT = 1 << 20


@dataclass
class Trip:
    city: str
    nights: int


@name("Booking")
class Booking(Workflow):
    @abstractmethod
    def book(self, trip: Trip, guests: int, note: str = "") -> str: ...


def test_arguments_decode_to_the_declared_types() -> None:
    spec = describe(Booking).method("book")
    args = spec.decode_args(b'[{"city": "Lyon", "nights": 2}, 3, "late"]', "Booking", LIMIT)
    assert args == [Trip("Lyon", 2), 3, "late"]
    assert spec.decode_args(b'[{"city": "Lyon", "nights": 2}, 3]', "Booking", LIMIT) == [
        Trip("Lyon", 2),
        3,
    ]  # a default left out


def test_arguments_that_are_not_an_array_are_refused() -> None:
    spec = describe(Booking).method("book")
    with pytest.raises(TypeError, match=r"arguments of Booking\.book are not a JSON array"):
        spec.decode_args(b'{"trip": 1, "guests": 2}', "Booking", LIMIT)


def test_a_wrong_number_of_arguments_is_refused_before_the_method_runs() -> None:
    spec = describe(Booking).method("book")
    with pytest.raises(TypeError, match=r"Booking\.book called with 4 arguments"):
        spec.decode_args(b'[{"city": "Lyon", "nights": 2}, 3, "x", "y"]', "Booking", LIMIT)


def test_an_argument_that_does_not_decode_is_named() -> None:
    spec = describe(Booking).method("book")
    with pytest.raises(SerializationError, match=r"argument 'guests' of Booking\.book"):
        spec.decode_args(b'[{"city": "Lyon", "nights": 2}, "three"]', "Booking", LIMIT)
    with pytest.raises(SerializationError, match=r"argument 'trip' of Booking\.book"):
        spec.decode_args(b'[{"town": "Lyon"}, 3]', "Booking", LIMIT)
