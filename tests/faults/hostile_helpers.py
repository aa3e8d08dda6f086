"""Fuzz targets for the envelope and state decoders, runnable in a child process.

A compiled decoder that crashes would take pytest down with it, so the tests run every target in
a child (`python -m tests.faults.hostile_helpers TARGET IMPL EXAMPLES`) under an address-space
limit and a timeout: a segfault, a hang or a runaway allocation fails the test instead. The child
writes each input to a file before decoding it, so a crash leaves the input that caused it.
It prints one JSON line of statistics when every input gave a result or a typed error.

Targets: `envelope` (random bytes and mutated envelopes of every message type), `lengths`
(every byte of every seed envelope replaced by a length claiming gigabytes, with tracemalloc
watching the peak), `state` (mutated WorkflowState envelopes, read back through the storage's
compression wrapper). `scripts/fuzz` runs the same targets for longer, and with atheris.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

from infinitic._core._errors import EnvelopeError
from infinitic.common import workflow_messages as w
from infinitic.common.messages import ALL_TYPES, ErrorInfo, TaskCompleted
from infinitic.errors import ConfigError, StorageError

GOLDEN = Path(__file__).resolve().parent.parent / "compat" / "golden_v1.json"
# the child's address space: far above what decoding any input of the fuzz sizes needs, far
# below what one unchecked "gigabytes" length would ask for
ADDRESS_SPACE_LIMIT = 1 << 30
# a decode may allocate this much more than its input (objects are bigger than their bytes)
PEAK_PER_INPUT_BYTE = 200
PEAK_BASE = 64 * 1024
# one input of a few KiB decodes in microseconds; this catches super-linear work, with room
# for tracemalloc (30x slower) on a machine shared with other jobs
SLOW_INPUT_SECONDS = 10.0
REGISTERED = {cls for _, cls, _ in ALL_TYPES}
HUGE_LENGTHS = (
    b"\xff\xff\xff\xff\x0f",  # 2**32 - 1: 4 GiB
    b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # 2**63: the largest a varint can hold, bit 63
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # 2**64 - 1
    b"\x80\x80\x80\x40",  # 128 MiB
)


def _sample(kind: str, depth: int) -> Any:
    """A non-empty value of a field kind, so every length and count field is on the wire."""
    if kind == "s":
        return "héllo"
    if kind == "S":
        return "opt"
    if kind == "b":
        return b'["x", 1]'
    if kind == "i":
        return -(2**40) - 3
    if kind == "f":
        return 1712345678.25
    if kind == "t":
        return frozenset({"tag:a", "tag:b"})
    if kind == "m":
        return {"k1": b"v1", "k2": b""}
    if kind == "n":
        return ErrorInfo("w", "ValueError", "boom", "tb", ErrorInfo("w", "KeyError", "k", ""))
    if kind == "L":
        return ["c-1", "é"]
    if kind == "N":
        if depth > 1:
            return [ErrorInfo("w", "E", "m", "s")]
        return [
            w.Command("c-0", 0, "task", "S", "m", b"[1]", error=ErrorInfo("w", "E", "m", "")),
            w.Step(1, "sig", b"{}"),
            filled(w.MethodRun, depth + 1),
            TaskCompleted("m", "t", "S", "m", b"1"),
        ]
    raise ValueError(f"unknown kind {kind!r}")


def filled(cls: type, depth: int = 0) -> Any:
    fields = next(f for _, c, f in ALL_TYPES if c is cls)
    return cls(*[_sample(kind, depth) for _, kind in fields])


def seed_messages() -> list[object]:
    """Every registered message type, filled (every field present) and with its defaults."""
    seeds: list[object] = []
    for _, cls, fields in ALL_TYPES:
        seeds.append(filled(cls))
        empty = {"s": "", "S": None, "b": b"", "i": 0, "f": 0.0, "t": frozenset(), "m": {}}
        empty.update({"n": None, "L": [], "N": []})
        seeds.append(cls(*[empty[kind] for _, kind in fields]))
    return seeds


def seed_envelopes(codec: Any) -> list[bytes]:
    golden = json.loads(GOLDEN.read_text())["envelopes"]
    return [codec.encode(m) for m in seed_messages()] + [bytes.fromhex(h) for h in golden.values()]


def state_seeds(codec: Any) -> list[bytes]:
    states = [filled(w.WorkflowState), w.WorkflowState("wf", "W", status="running")]
    golden = json.loads(GOLDEN.read_text())["envelopes"]
    return [codec.encode(s) for s in states] + [
        bytes.fromhex(h) for k, h in golden.items() if k.startswith("workflow_state")
    ]


# ------------------------------------------------------------------------------- mutations


def mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    """Applies (operation, position, value) triples: the vocabulary the fuzzers draw from."""
    out = bytearray(data)
    for op, position, value in ops:
        at = position % (len(out) + 1)
        if op == 0:  # flip one bit
            if out:
                out[at % len(out)] ^= 1 << (value % 8)
        elif op == 1:  # set one byte
            if out:
                out[at % len(out)] = value % 256
        elif op == 2:  # truncate
            del out[at:]
        elif op == 3:  # insert bytes
            out[at:at] = bytes([value % 256]) * (1 + value % 7)
        elif op == 4:  # a length field claiming gigabytes, in place of one byte
            out[at : at + 1] = HUGE_LENGTHS[value % len(HUGE_LENGTHS)]
        elif op == 5:  # delete a range
            del out[at : at + 1 + value % 16]
        elif op == 6:  # repeat a chunk (nested counts, duplicated fields)
            chunk = out[at : at + 1 + value % 32]
            out[at:at] = chunk * (1 + value % 4)
        else:  # a count or small length one larger
            if out:
                out[at % len(out)] = (out[at % len(out)] + 1) % 256
    return bytes(out)


# ---------------------------------------------------------------------------------- oracle


@dataclass
class Stats:
    inputs: int = 0
    decoded: int = 0
    refused: int = 0
    max_seconds: float = 0.0
    max_peak_bytes: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


class Recorder:
    """Keeps the input being decoded in a file, so a crash of the child leaves it behind."""

    def __init__(self, path: str | None) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC) if path else -1

    def record(self, data: bytes) -> None:
        if self.fd >= 0:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, data, 0)


def _error_kind(message: str) -> str:
    words = message.split(":")[0].split(" ")
    return " ".join(words[:3])


def check_decode(
    decode: Callable[[bytes], object],
    encode: Callable[[object], bytes],
    data: bytes,
    stats: Stats,
    recorder: Recorder,
    *,
    typed: tuple[type[BaseException], ...] = (EnvelopeError,),
    measure: bool = False,
    round_trip: bool = True,
) -> object | None:
    """Decodes `data`: a registered message that re-encodes stably, or a typed error. Else
    AssertionError, naming the input (hex) and what leaked."""
    recorder.record(data)
    stats.inputs += 1
    if measure:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        message = decode(data)
    except typed as exc:
        stats.refused += 1
        if not str(exc):
            raise AssertionError(
                f"{type(exc).__name__} without a message for {data.hex()}"
            ) from exc
        kind = _error_kind(str(exc))
        stats.errors[kind] = stats.errors.get(kind, 0) + 1
        return None
    except BaseException as exc:  # noqa: BLE001 - the point: anything untyped is a finding
        raise AssertionError(
            f"decoding {data.hex()} raised {type(exc).__name__}: {exc}, not a typed error"
        ) from exc
    finally:
        elapsed = time.perf_counter() - started
        stats.max_seconds = max(stats.max_seconds, elapsed)
        if measure:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            stats.max_peak_bytes = max(stats.max_peak_bytes, peak)
            if peak > PEAK_BASE + PEAK_PER_INPUT_BYTE * len(data):
                raise AssertionError(
                    f"decoding {len(data)} bytes allocated {peak} bytes at peak: {data.hex()}"
                )
        if elapsed > SLOW_INPUT_SECONDS:
            raise AssertionError(f"decoding took {elapsed:.2f} s: {data.hex()}")
    stats.decoded += 1
    if type(message) not in REGISTERED:
        raise AssertionError(f"{data.hex()} decoded to a {type(message).__name__}")
    if not round_trip:
        return message
    # what was accepted must be a message the codec can write and read back identically
    again = encode(message)
    if encode(decode(again)) != again:
        raise AssertionError(f"{data.hex()} decoded to a message that does not round-trip")
    return message


# ---------------------------------------------------------------------------------- targets


def outcome(codec: Any, data: bytes) -> tuple[str, object]:
    try:
        return "ok", codec.encode(codec.decode(data))
    except EnvelopeError as exc:
        return "error", str(exc)


def same_as_twin(codec: Any, twin: Any, data: bytes) -> None:
    """The compiled codec decodes to the same message, or fails with the same words."""
    if twin is not None and outcome(codec, data) != outcome(twin, data):
        raise AssertionError(
            f"compiled and twin disagree on {data.hex()}: "
            f"{outcome(codec, data)!r} != {outcome(twin, data)!r}"
        )


def fuzz_settings(examples: int, seed: int) -> Callable[[Any], Any]:
    """CI (seed 0): derandomized, no example database, so every run tries the same inputs.
    By hand (scripts/fuzz): a seed per run, so longer runs explore new inputs."""
    from hypothesis import HealthCheck, settings
    from hypothesis import seed as with_seed

    chosen = settings(
        max_examples=examples,
        derandomize=seed == 0,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )

    def apply(test: Any) -> Any:
        return chosen(with_seed(seed)(test)) if seed else chosen(test)

    return apply


def codec_of(impl: str) -> Any:
    module: ModuleType = import_module(f"infinitic._core._envelope_{impl}")
    return module.Codec(ALL_TYPES)


def run_envelope(impl: str, examples: int, recorder: Recorder, seed: int = 0) -> Stats:
    from hypothesis import given
    from hypothesis import strategies as st

    codec = codec_of(impl)
    seeds = seed_envelopes(codec)
    stats = Stats()
    ops = st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 4096), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
    inputs = st.one_of(
        st.binary(max_size=256),
        st.binary(max_size=128).map(lambda b: b"IN\x01" + b),
        st.tuples(st.sampled_from(seeds), ops).map(lambda s: mutate(*s)),
    )

    @fuzz_settings(examples, seed)
    @given(data=inputs)
    def fuzz(data: bytes) -> None:
        check_decode(codec.decode, codec.encode, data, stats, recorder)
        same_as_twin(codec, twin, data)

    twin = codec_of("py") if impl == "c" else None
    fuzz()
    return stats


def length_claims(seeds: list[bytes], seed: int = 0) -> Iterator[bytes]:
    """Every byte after the header of every seed, replaced by each huge length: in an order
    shuffled by `seed` (fixed in CI), so a budget smaller than all of them covers every seed."""
    places = [
        (i, position, h)
        for i, data in enumerate(seeds)
        for position in range(3, len(data))
        for h in range(len(HUGE_LENGTHS))
    ]
    random.Random(seed).shuffle(places)
    for i, position, h in places:
        data = seeds[i]
        yield data[:position] + HUGE_LENGTHS[h] + data[position + 1 :]


def run_lengths(impl: str, examples: int, recorder: Recorder, seed: int = 0) -> Stats:
    codec = codec_of(impl)
    twin = codec_of("py") if impl == "c" else None
    stats = Stats()
    for count, data in enumerate(length_claims(seed_envelopes(codec), seed)):
        if count >= examples:
            break
        check_decode(codec.decode, codec.encode, data, stats, recorder, measure=True)
        same_as_twin(codec, twin, data)
    return stats


def run_state(impl: str, examples: int, recorder: Recorder, seed: int = 0) -> Stats:
    """Mutated states, stored raw or zlib-compressed, read back as the engine reads them."""
    from hypothesis import given
    from hypothesis import strategies as st

    from infinitic.storage.compressed import CompressedStorage
    from infinitic.storage.memory import MemoryStorage

    codec = codec_of(impl)
    seeds = state_seeds(codec)
    stats = Stats()
    inner = MemoryStorage()
    storage = CompressedStorage(inner, "zlib")
    loop = asyncio.new_event_loop()
    loop.run_until_complete(storage.start())
    ops = st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 4096), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
    # 0: the state envelope mutated, stored uncompressed; 1: mutated then compressed;
    # 2: compressed then the compressed bytes mutated
    stored = st.tuples(st.integers(0, 2), st.sampled_from(seeds), ops)

    keys = itertools.count()

    def read_back(value: bytes) -> object:
        key = f"state-{next(keys)}"  # a new key each time: no version to track
        loop.run_until_complete(inner.put(key, value, 0))
        found = loop.run_until_complete(storage.get(key))
        assert found is not None
        message = codec.decode(found[0])
        if not isinstance(message, w.WorkflowState):
            raise EnvelopeError(f"not a workflow state: {type(message).__name__}")
        return message

    @fuzz_settings(examples, seed)
    @given(case=stored)
    def fuzz(case: tuple[int, bytes, list[tuple[int, int, int]]]) -> None:
        how, state, changes = case
        if how == 0:
            value = mutate(state, changes)
        elif how == 1:
            value = b"\x01" + zlib.compress(mutate(state, changes))
        else:
            value = mutate(b"\x01" + zlib.compress(state), changes)
        check_decode(
            read_back,
            codec.encode,
            value,
            stats,
            recorder,
            # ConfigError: a zstd marker where zstd is not installed says what to install
            typed=(EnvelopeError, StorageError, ConfigError),
        )

    try:
        fuzz()
    finally:
        loop.close()
    return stats


def run_stored(impl: str, examples: int, recorder: Recorder, seed: int = 0) -> Stats:
    """A long state saved as a head and segments (engines/workflow_engine/stored.py), one of
    its records mutated, loaded back by the engine's own reader."""
    from hypothesis import given
    from hypothesis import strategies as st

    from infinitic.engines.workflow_engine import stored
    from infinitic.storage.memory import MemoryStorage

    codec = codec_of(impl)
    run = filled(w.MethodRun)
    run.commands = [w.Command(f"c-{i}", i, "task", "S", "m", b"[1]") for i in range(300)]
    run.steps = [w.Step(i, "sig", b"{}") for i in range(3)]
    state = w.WorkflowState("wf-1", "W", status="running", method_runs=[run])
    records, _ = stored.writes("state", state, 0, stored.Layout(), None)
    seeds = [(k, v) for k, v, _ in records if v is not None]
    stats = Stats()
    loop = asyncio.new_event_loop()
    ops = st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 4096), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
    typed = (EnvelopeError, StorageError, ConfigError, stored.NotAState)

    def load(case: bytes) -> object:
        # the case is "<index of the mutated record>" + its mutated bytes
        index, value = case[0] % len(seeds), case[1:]
        storage = MemoryStorage()  # a new one each time: no versions to track
        loop.run_until_complete(storage.start())
        writes = [
            (key, value if i == index else original, 0) for i, (key, original) in enumerate(seeds)
        ]
        loop.run_until_complete(storage.put_many(writes))
        loaded = loop.run_until_complete(stored.load(storage, "state"))
        assert loaded is not None
        loop.run_until_complete(stored_check(loaded[0]))
        return loaded[0]

    async def stored_check(loaded: w.WorkflowState) -> None:
        # what was accepted must be a state the engine can save again
        stored.writes("again", loaded, 1, stored.Layout(), None)

    @fuzz_settings(examples, seed)
    @given(which=st.integers(0, len(seeds) - 1), changes=ops)
    def fuzz(which: int, changes: list[tuple[int, int, int]]) -> None:
        value = bytes([which]) + mutate(seeds[which][1], changes)
        check_decode(load, codec.encode, value, stats, recorder, typed=typed, round_trip=False)

    try:
        fuzz()
    finally:
        loop.close()
    return stats


TARGETS: dict[str, Callable[[str, int, Recorder, int], Stats]] = {
    "envelope": run_envelope,
    "lengths": run_lengths,
    "state": run_state,
    "stored": run_stored,
}


@dataclass
class ChildResult:
    returncode: int
    stats: dict[str, Any] | None
    stderr: str
    crash_input: bytes | None


def run_child(
    target: str, impl: str, examples: int, tmp: Path, timeout: float, seed: int = 0
) -> ChildResult:
    """Runs one target in a child process under an address-space limit and a timeout."""
    crash_file = tmp / f"{target}-{impl}.input"
    env = dict(os.environ, INFINITIC_FUZZ_RECORD=str(crash_file))
    if impl == "py":
        env["INFINITIC_NO_EXTENSIONS"] = "1"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))

    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.hostile_helpers", target, impl, str(examples)]
        + ([str(seed)] if seed else []),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        preexec_fn=limit,
        cwd=Path(__file__).resolve().parent.parent.parent,
    )
    stats = None
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            stats = json.loads(line)
    crash = crash_file.read_bytes() if proc.returncode != 0 and crash_file.exists() else None
    return ChildResult(proc.returncode, stats, proc.stderr, crash)


def atheris_main(target: str, impl: str, seconds: int, corpus: Path) -> None:
    """Coverage-guided fuzzing of one target with atheris. Coverage comes from the twin's
    instrumented Python; for the compiled module each input goes through the twin first (for
    the coverage) and then the compiled codec, which must give the same outcome."""
    import atheris  # type: ignore[import-not-found]

    from infinitic.storage.compressed import CompressedStorage

    codec = codec_of(impl)
    twin = codec_of("py")
    recorder = Recorder(os.environ.get("INFINITIC_FUZZ_RECORD"))
    stats = Stats()
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = state_seeds(codec) if target == "state" else seed_envelopes(codec)
    for i, data in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(data)
    unpack = CompressedStorage._unpack
    typed: tuple[type[BaseException], ...] = (EnvelopeError,)
    if target == "state":
        typed = (EnvelopeError, StorageError, ConfigError)

    def decoder(chosen: Any) -> Callable[[bytes], object]:
        if target != "state":
            return chosen.decode  # type: ignore[no-any-return]

        def decode(data: bytes) -> object:
            message = chosen.decode(unpack(data))
            if not isinstance(message, w.WorkflowState):
                raise EnvelopeError(f"not a workflow state: {type(message).__name__}")
            return message

        return decode

    decode, twin_decode = decoder(codec), decoder(twin)

    def outcome(run: Callable[[bytes], object], data: bytes) -> object:
        try:
            return codec.encode(run(data))
        except typed as exc:
            return f"{type(exc).__name__}: {exc}"

    def one_input(data: bytes) -> None:
        if impl == "c":
            expected = outcome(twin_decode, data)
        check_decode(decode, codec.encode, data, stats, recorder, typed=typed)
        if impl == "c" and outcome(decode, data) != expected:
            raise AssertionError(f"compiled and twin disagree on {data.hex()}")

    atheris.instrument_all()
    argv = [sys.argv[0], f"-max_total_time={seconds}", "-rss_limit_mb=1024", str(corpus)]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def main(argv: list[str]) -> int:
    if argv[0] == "atheris":
        atheris_main(argv[1], argv[2], int(argv[3]), Path(argv[4]))
        return 0
    target, impl, examples = argv[0], argv[1], int(argv[2])
    seed = int(argv[3]) if len(argv) > 3 else 0
    recorder = Recorder(os.environ.get("INFINITIC_FUZZ_RECORD"))
    stats = TARGETS[target](impl, examples, recorder, seed)
    print(stats.as_json(), flush=True)
    return 0


if __name__ == "__main__":
    import faulthandler

    faulthandler.enable()
    sys.exit(main(sys.argv[1:]))
