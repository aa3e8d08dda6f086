"""Hostile bytes into the envelope decoder, compiled and twin: a message or an EnvelopeError.

Each target runs in a child process (tests/faults/hostile_helpers.py) under a 1 GiB address
space limit and a timeout, so a segfault, a hang or a runaway allocation in the compiled codec
fails the test with the input that caused it instead of killing pytest. The inputs are
derandomized (the same every run) and their number is INFINITIC_FUZZ_EXAMPLES (default 2000
per target and implementation); scripts/fuzz runs them for minutes, seeded, and with atheris.
"""

from __future__ import annotations

import os
import signal
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from infinitic._core._errors import EnvelopeError
from infinitic.common.messages import ALL_TYPES
from tests.faults.hostile_helpers import (
    HUGE_LENGTHS,
    ChildResult,
    filled,
    run_child,
    seed_envelopes,
    seed_messages,
)
from tests.helpers.kernels import IMPLEMENTATIONS, load

EXAMPLES = int(os.environ.get("INFINITIC_FUZZ_EXAMPLES", "2000"))
CHILD_TIMEOUT = 120.0 + EXAMPLES / 20


def explain(result: ChildResult) -> str:
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        what = f"the decoder crashed the process ({name})"
    else:
        what = f"the fuzz target failed (exit {result.returncode})"
    crash = f"\nlast input: {result.crash_input.hex()}" if result.crash_input is not None else ""
    return f"{what}{crash}\n{result.stderr[-6000:]}"


# slow: both implementations run in their own child processes whatever the pass, so CI's
# second pass (on the twins, -m "not slow") would only repeat them
@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("target", ["envelope", "lengths"])
def test_hostile_bytes_give_a_message_or_an_envelope_error(
    target: str, impl: str, tmp_path: Path
) -> None:
    load("envelope", impl)  # skips (or fails under REQUIRE) when not compiled
    result = run_child(target, impl, EXAMPLES, tmp_path, CHILD_TIMEOUT)
    assert result.returncode == 0, explain(result)
    stats = result.stats
    assert stats is not None, result.stderr
    assert stats["inputs"] >= min(EXAMPLES, 1000)
    # the inputs reach past the header: both outcomes and many distinct refusals occur
    assert stats["refused"] > 0
    if target == "envelope":
        assert stats["decoded"] > 0
        assert len(stats["errors"]) >= 5, stats["errors"]


def test_every_message_type_is_a_seed() -> None:
    # the mutations start from every registered type, so every field kind's decoder is reached
    seeded = {type(m) for m in seed_messages()}
    assert seeded == {cls for _, cls, _ in ALL_TYPES}
    kinds = {kind for _, _, fields in ALL_TYPES for _, kind in fields}
    assert kinds == set("sSbiftmnLN")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("huge", HUGE_LENGTHS, ids=lambda h: f"{len(h)}-byte-varint")
def test_a_length_claiming_gigabytes_is_refused_before_allocating(impl: str, huge: bytes) -> None:
    # in process, on purpose: the child above already survived these very inputs
    codec = load("envelope", impl).Codec(ALL_TYPES)
    message = filled(next(cls for _, cls, _ in ALL_TYPES if cls.__name__ == "ExecuteTask"))
    data = codec.encode(message)
    # message_id is the first field: its length byte is at offset 4
    hostile = data[:4] + huge + data[5:]
    tracemalloc.start()
    try:
        with pytest.raises(EnvelopeError, match=r"envelope truncated: ExecuteTask\.message_id"):
            codec.decode(hostile)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_seeds_decode(impl: str) -> None:
    # the fuzzers mutate valid envelopes: they must be valid to begin with
    codec = load("envelope", impl).Codec(ALL_TYPES)
    for data in seed_envelopes(codec):
        assert codec.encode(codec.decode(data)) == data


def _released() -> memoryview:
    view = memoryview(b"IN\x01\x01\x00\x00\x00\x00\x00")
    view.release()
    return view


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "make, fragment",
    [
        (_released, "cannot decode a released memoryview"),
        (lambda: memoryview(b"IxNx\x01")[::2], "truncated"),  # strided: read as its bytes
        (lambda: memoryview(bytes(12)).cast("B", (3, 4)), "bad magic"),
        (lambda: memoryview(bytes(8)).cast("i"), "bad magic"),
        (lambda: "IN\x01", "expected bytes, bytearray or memoryview"),
    ],
    ids=["released", "strided", "2-d", "int-items", "str"],
)
def test_odd_buffers_are_envelope_errors(impl: str, make: Any, fragment: str) -> None:
    codec = load("envelope", impl).Codec(ALL_TYPES)
    with pytest.raises(EnvelopeError, match=fragment):
        codec.decode(make())
