"""Micro-benchmarks of payload serialization (infinitic/common/serialization.py).

python -m pytest benchmarks/test_bench_serialization.py --benchmark-only

What a client or a task executor does per call: `encode_args` of the arguments into a JSON
array, and on the other side `loads` + `convert` of each value into the annotated type. Each
timed round runs 1,000 calls. There is no compiled kernel for payloads (orjson does the JSON
in C; the typed decoding is Python), so these run once, not compiled vs twin.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infinitic.common import serialization

CALLS = 1_000


@dataclasses.dataclass
class Address:
    street: str
    city: str
    zip_code: str


@dataclasses.dataclass
class Order:
    order_id: str
    quantity: int
    price: float
    address: Address
    items: list[str]


ORDER = Order("o-42", 3, 9.99, Address("1 rue de la Paix", "Paris", "75002"), ["a", "b", "c"])

# (id, values, annotations): typical task arguments
ARGS = [
    pytest.param([42], [int], id="int"),
    pytest.param([7, 8, 9], [int, int, int], id="3 ints"),
    pytest.param(["world"], [str], id="str"),
    pytest.param(["x" * 1000], [str], id="str 1kB"),
    pytest.param([ORDER], [Order], id="dataclass"),
    pytest.param([list(range(100))], [list[int]], id="list of 100 ints"),
    pytest.param([[ORDER] * 10], [list[Order]], id="list of 10 dataclasses"),
]


def _names(values: list[Any]) -> list[str]:
    return [f"a{i}" for i in range(len(values))]


@pytest.mark.parametrize(("values", "types"), ARGS)
def test_encode_args(benchmark: Any, values: list[Any], types: list[Any]) -> None:
    benchmark.group = "serialization.encode_args x1000"
    names = _names(values)
    encode = serialization.encode_args
    loop = range(CALLS)

    def run() -> bytes:
        for _ in loop:
            data = encode(values, names, "Bench.method")
        return data

    assert serialization.loads(benchmark(run))[0] is not None


@pytest.mark.parametrize(("values", "types"), ARGS)
def test_decode_args(benchmark: Any, values: list[Any], types: list[Any]) -> None:
    benchmark.group = "serialization.decode_args x1000"
    data = serialization.encode_args(values, _names(values), "Bench.method")
    loads = serialization.loads
    convert = serialization.convert
    loop = range(CALLS)

    def run() -> list[Any]:
        # as the task executor decodes arguments: per value, by its annotation
        for _ in loop:
            decoded = [convert(v, tp, "argument") for v, tp in zip(loads(data), types, strict=True)]
        return decoded

    assert benchmark(run) == values
