"""Hostile stored state: a corrupt WorkflowState, raw or behind the compression wrapper, or one
record of a segmented state, is refused with EnvelopeError, StorageError or the engine's
NotAState, never another error, a crash or a bomb's worth of memory. The fuzzing runs in a
child process, like tests/faults/test_fuzz_envelope.py."""

from __future__ import annotations

import asyncio
import os
import tracemalloc
import zlib
from pathlib import Path

import pytest

from infinitic.errors import StorageError
from infinitic.storage.compressed import MAX_INFLATED, CompressedStorage
from infinitic.storage.memory import MemoryStorage
from tests.faults.hostile_helpers import run_child
from tests.faults.test_fuzz_envelope import CHILD_TIMEOUT, explain
from tests.helpers.kernels import IMPLEMENTATIONS, load

EXAMPLES = int(os.environ.get("INFINITIC_FUZZ_EXAMPLES", "2000"))


@pytest.mark.slow  # the child picks the implementation: see test_fuzz_envelope.py
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_corrupt_stored_states_are_refused_with_a_typed_error(impl: str, tmp_path: Path) -> None:
    load("envelope", impl)
    result = run_child("state", impl, EXAMPLES, tmp_path, CHILD_TIMEOUT)
    assert result.returncode == 0, explain(result)
    stats = result.stats
    assert stats is not None, result.stderr
    assert stats["inputs"] >= min(EXAMPLES, 1000)
    assert stats["decoded"] > 0 and stats["refused"] > 0
    # both layers refused some: the decompressor and the envelope decoder
    assert "a stored value" in " ".join(stats["errors"]), stats["errors"]
    assert any(k.startswith("envelope") for k in stats["errors"]), stats["errors"]


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_a_corrupt_segmented_state_is_refused_by_the_engines_reader(
    impl: str, tmp_path: Path
) -> None:
    # a long state is a head and segments (engines/workflow_engine/stored.py): one of them
    # mutated is an EnvelopeError, NotAState or StorageError, never an AttributeError
    load("envelope", impl)
    result = run_child("stored", impl, EXAMPLES, tmp_path, CHILD_TIMEOUT)
    assert result.returncode == 0, explain(result)
    stats = result.stats
    assert stats is not None, result.stderr
    assert stats["inputs"] >= min(EXAMPLES, 1000)
    assert stats["decoded"] > 0 and stats["refused"] > 0
    assert any("is not" in k for k in stats["errors"]), stats["errors"]  # NotAState


def _read(value: bytes) -> bytes:
    async def go() -> bytes:
        inner = MemoryStorage()
        storage = CompressedStorage(inner, "zlib")
        await storage.start()
        await inner.put("k", value, 0)
        found = await storage.get("k")
        await storage.close()
        assert found is not None
        return found[0]

    return asyncio.run(go())


def test_a_decompression_bomb_is_refused_without_inflating_it() -> None:
    # 260 KiB of zlib that would inflate to 256 MiB, four times the envelope limit
    deflater = zlib.compressobj(9)
    chunk = bytes(1024 * 1024)
    body = b"".join(deflater.compress(chunk) for _ in range(4 * MAX_INFLATED // len(chunk)))
    bomb = b"\x01" + body + deflater.flush()
    assert len(bomb) < 300_000
    tracemalloc.start()
    try:
        with pytest.raises(StorageError, match="inflates to more than 67108864 bytes"):
            _read(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # bounded by the limit (zlib's output buffer and its final copy: twice the limit at most),
    # never by what the bomb would inflate to
    assert peak < 2 * MAX_INFLATED + 8 * 1024 * 1024


@pytest.mark.parametrize(
    "value, fragment",
    [
        (b"\x01" + zlib.compress(b"IN\x01" + b"x" * 300)[:-6], "truncated"),
        (b"\x01not zlib at all", "cannot be decompressed"),
        (b"\x01", "truncated"),
    ],
    ids=["truncated", "garbage", "marker-only"],
)
def test_corrupt_compressed_values_name_the_problem(value: bytes, fragment: str) -> None:
    with pytest.raises(StorageError, match=fragment):
        _read(value)


def test_a_valid_compressed_value_still_reads_back() -> None:
    state = b"IN\x01" + os.urandom(300)
    assert _read(b"\x01" + zlib.compress(state)) == state
    assert _read(state) == state  # written before compression was turned on
