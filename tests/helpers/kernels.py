"""The hot-path kernels of infinitic/_core, compiled and twin, as typed facades.

`load("envelope", "c")` gives `_envelope_c` typed as `EnvelopeKernel`: what a test may use of
either implementation, spelled with the twin's types (the twin is the type source, as in the
selectors). Tests take them from the session fixtures of tests/conftest.py (`envelope_impl`,
`backoff_impl`, `replay_impl`, each once per flavour; the compiled flavour is marked
`c_extension` and deselected when the compiled kernels are disabled or not built).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any, Literal, Protocol, overload

import pytest

from infinitic._core import _backoff_py, _envelope_py, _replay_py
from infinitic._core._errors import EnvelopeError

Flavour = Literal["py", "c"]
KERNELS = ("backoff", "envelope", "replay")

REQUIRE_EXTENSIONS = os.environ.get("INFINITIC_REQUIRE_EXTENSIONS", "") not in ("", "0")
NO_EXTENSIONS = os.environ.get("INFINITIC_NO_EXTENSIONS", "") not in ("", "0")

IMPLEMENTATIONS = [
    pytest.param("py", id="py"),
    pytest.param("c", id="c", marks=pytest.mark.c_extension),
]


class EnvelopeKernel(Protocol):
    """`_envelope_c` / `_envelope_py`."""

    __name__: str

    @property
    def MAGIC(self) -> bytes: ...
    @property
    def FORMAT_VERSION(self) -> int: ...
    @property
    def DEFAULT_MAX_SIZE(self) -> int: ...
    @property
    def MAX_DEPTH(self) -> int: ...
    @property
    def KINDS(self) -> str: ...
    @property
    def EnvelopeError(self) -> type[EnvelopeError]: ...
    @property
    def Codec(self) -> type[_envelope_py.Codec]: ...


class BackoffKernel(Protocol):
    """`_backoff_c` / `_backoff_py`."""

    __name__: str

    @property
    def DEFAULT_MINIMUM_SECONDS(self) -> float: ...
    @property
    def DEFAULT_MAXIMUM_SECONDS(self) -> float: ...
    @property
    def DEFAULT_BACKOFF_COEFFICIENT(self) -> float: ...
    @property
    def DEFAULT_RANDOM_FACTOR(self) -> float: ...
    @property
    def DEFAULT_MAXIMUM_RETRIES(self) -> int: ...
    @property
    def ExponentialBackoff(self) -> type[_backoff_py.ExponentialBackoff]: ...
    @property
    def compute_delay(self) -> Callable[[int, float, float, float, float, float], float]: ...
    @property
    def exception_matches(self) -> Callable[..., bool]: ...


class ReplayKernel(Protocol):
    """`_replay_c` / `_replay_py`."""

    __name__: str

    @property
    def ONGOING(self) -> int: ...
    @property
    def UNKNOWN(self) -> int: ...
    @property
    def CANCELED(self) -> int: ...
    @property
    def FAILED(self) -> int: ...
    @property
    def TIMED_OUT(self) -> int: ...
    @property
    def COMPLETED(self) -> int: ...
    @property
    def STATUS_NAMES(self) -> tuple[str, ...]: ...
    @property
    def CHECK_NONE(self) -> int: ...
    @property
    def CHECK_SIMPLE(self) -> int: ...
    @property
    def CHECK_STRICT(self) -> int: ...
    @property
    def History(self) -> type[_replay_py.History]: ...
    @property
    def step_signature(self) -> Callable[[tuple[Any, ...]], str]: ...


# the twins are the type source: these fail `mypy tests/helpers/kernels.py` if a facade drifts
_ENVELOPE: EnvelopeKernel = _envelope_py
_BACKOFF: BackoffKernel = _backoff_py
_REPLAY: ReplayKernel = _replay_py


def compiled_missing() -> str | None:
    """Why the compiled kernels cannot be tested in this run, or None if they can."""
    if NO_EXTENSIONS:
        return "INFINITIC_NO_EXTENSIONS is set"
    for kernel in KERNELS:
        try:
            importlib.import_module(f"infinitic._core._{kernel}_c")
        except ImportError as exc:
            if REQUIRE_EXTENSIONS:
                raise  # CI: a kernel that did not build is a failure, never a quiet deselection
            return f"infinitic._core._{kernel}_c is not compiled ({exc})"
    return None


@overload
def load(kernel: Literal["envelope"], flavour: Flavour) -> EnvelopeKernel: ...
@overload
def load(kernel: Literal["backoff"], flavour: Flavour) -> BackoffKernel: ...
@overload
def load(kernel: Literal["replay"], flavour: Flavour) -> ReplayKernel: ...
def load(kernel: str, flavour: Flavour) -> Any:
    """`infinitic._core._<kernel>_<flavour>`; a missing compiled module skips the caller (a
    benchmark: the tests' compiled items are deselected before they run), fails under
    INFINITIC_REQUIRE_EXTENSIONS."""
    name = f"infinitic._core._{kernel}_{flavour}"
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if flavour == "c" and not REQUIRE_EXTENSIONS:
            pytest.skip(f"{name} is not compiled ({exc})")
        raise


def envelope_pair() -> tuple[EnvelopeKernel, EnvelopeKernel]:
    """(twin, compiled), for the parity tests."""
    return load("envelope", "py"), load("envelope", "c")
