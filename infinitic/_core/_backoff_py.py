"""Truncated randomized exponential backoff: the pure-Python twin of `_backoff_c`.

This module is the type source: `_backoff_c.pyx` has the same names, signatures, errors,
docstrings and floating-point results (a seeded `random.Random` gives identical delays).
Imports the standard library only.
"""

from __future__ import annotations

import random as _random_module
from collections.abc import Collection, Iterable
from operator import index as _index
from typing import Any

__all__ = [
    "DEFAULT_BACKOFF_COEFFICIENT",
    "DEFAULT_MAXIMUM_RETRIES",
    "DEFAULT_MAXIMUM_SECONDS",
    "DEFAULT_MINIMUM_SECONDS",
    "DEFAULT_RANDOM_FACTOR",
    "ExponentialBackoff",
    "compute_delay",
    "exception_matches",
]

DEFAULT_MINIMUM_SECONDS = 1.0
DEFAULT_MAXIMUM_SECONDS = 1000.0
DEFAULT_BACKOFF_COEFFICIENT = 2.0
DEFAULT_RANDOM_FACTOR = 0.5
DEFAULT_MAXIMUM_RETRIES = 11

# Retry indexes are capped before the power: coefficient ** 2**62 already overflows for every
# coefficient > 1 (the smallest, 1 + 2**-52, gives about e**1024), and 1.0 ** r is 1.0.
_RETRY_CAP = 1 << 62


def compute_delay(
    retry: int,
    minimum_seconds: float,
    maximum_seconds: float,
    backoff_coefficient: float,
    random_factor: float,
    u: float,
) -> float:
    """Delay in seconds before the 0-based retry `retry`, u drawn uniformly in [0, 1).

    ``min(maximum, minimum * coefficient**retry) * (1 + random_factor * (2u - 1))``.
    A power too large for a float counts as the maximum, whatever the retry index.
    Raises ValueError if `retry` is negative, TypeError if it is not an integer.
    """
    r = _index(retry)
    if r < 0:
        raise ValueError(f"retry ({r}) must be greater than or equal to 0")
    if r > _RETRY_CAP:
        r = _RETRY_CAP
    try:
        growth = backoff_coefficient ** float(r)
    except OverflowError:
        growth = float("inf")
    base = minimum_seconds * growth
    if base > maximum_seconds:
        base = maximum_seconds
    return float(base * (1.0 + random_factor * (2.0 * u - 1.0)))


def exception_matches(exception: BaseException, names: Collection[str]) -> bool:
    """True if the exception's class or any base class has a qualified name in `names`.

    Names are "module.QualName"; builtins match both "ValueError" and "builtins.ValueError".
    """
    if not names:
        return False
    for cls in type(exception).__mro__:
        module = cls.__module__
        qualname = cls.__qualname__
        if f"{module}.{qualname}" in names:
            return True
        if module == "builtins" and qualname in names:
            return True
    return False


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"retry.{key} must be a number, not {type(value).__name__}")
    return float(value)


def _names(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)):
        raise ValueError(
            f"retry.ignoredExceptions must be a list of qualified class names, "
            f"not a single {type(value).__name__} ({value!r})"
        )
    try:
        names = tuple(value)
    except TypeError:
        raise ValueError(
            f"retry.ignoredExceptions must be a list of qualified class names, "
            f"not {type(value).__name__}"
        ) from None
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"retry.ignoredExceptions[{i}] ({name!r}) must be a non-empty qualified "
                f"class name such as 'builtins.ValueError' or 'my.module.MyError'"
            )
    return names


class ExponentialBackoff:
    """Infinitic's default retry policy: truncated randomized exponential backoff.

    The delay before the 0-based retry r is ``min(maximum, minimum * coefficient**r)``
    times ``1 + random_factor * (2U - 1)``, with U uniform in [0, 1) drawn from `random`
    (a `random.Random`, a fresh one by default); there is no retry once r >= maximum_retries
    or when the exception (or a base class of it) is named in `ignored_exceptions`.
    Invalid parameters raise ValueError naming the config key (retry.minimumSeconds...).
    """

    __slots__ = (
        "_backoff_coefficient",
        "_ignored_exceptions",
        "_ignored_set",
        "_maximum_retries",
        "_maximum_seconds",
        "_minimum_seconds",
        "_random",
        "_random_factor",
    )

    def __init__(
        self,
        minimum_seconds: float = DEFAULT_MINIMUM_SECONDS,
        maximum_seconds: float = DEFAULT_MAXIMUM_SECONDS,
        backoff_coefficient: float = DEFAULT_BACKOFF_COEFFICIENT,
        random_factor: float = DEFAULT_RANDOM_FACTOR,
        maximum_retries: int = DEFAULT_MAXIMUM_RETRIES,
        ignored_exceptions: Iterable[str] = (),
        random: _random_module.Random | None = None,
    ) -> None:
        minimum = _number("minimumSeconds", minimum_seconds)
        maximum = _number("maximumSeconds", maximum_seconds)
        coefficient = _number("backoffCoefficient", backoff_coefficient)
        factor = _number("randomFactor", random_factor)
        if not minimum > 0.0:
            raise ValueError(f"retry.minimumSeconds ({minimum!r}) must be greater than 0")
        if not maximum > minimum:
            raise ValueError(
                f"retry.maximumSeconds ({maximum!r}) must be greater than "
                f"retry.minimumSeconds ({minimum!r})"
            )
        if not coefficient >= 1.0:
            raise ValueError(
                f"retry.backoffCoefficient ({coefficient!r}) must be greater than or equal to 1"
            )
        if not 0.0 <= factor <= 1.0:
            raise ValueError(f"retry.randomFactor ({factor!r}) must be between 0 and 1")
        if isinstance(maximum_retries, bool) or not isinstance(maximum_retries, int):
            raise ValueError(
                f"retry.maximumRetries must be an integer, not {type(maximum_retries).__name__}"
            )
        if maximum_retries < 0:
            raise ValueError(
                f"retry.maximumRetries ({maximum_retries!r}) must be greater than or equal to 0"
            )
        names = _names(ignored_exceptions)
        self._minimum_seconds = minimum
        self._maximum_seconds = maximum
        self._backoff_coefficient = coefficient
        self._random_factor = factor
        self._maximum_retries = int(maximum_retries)
        self._ignored_exceptions = names
        self._ignored_set = frozenset(names)
        self._random = _random_module.Random() if random is None else random

    @property
    def minimum_seconds(self) -> float:
        """retry.minimumSeconds: the delay before the first retry, before randomization."""
        return self._minimum_seconds

    @property
    def maximum_seconds(self) -> float:
        """retry.maximumSeconds: the cap of the exponential, before randomization."""
        return self._maximum_seconds

    @property
    def backoff_coefficient(self) -> float:
        """retry.backoffCoefficient: the growth factor between two retries."""
        return self._backoff_coefficient

    @property
    def random_factor(self) -> float:
        """retry.randomFactor: the relative jitter, in [0, 1]."""
        return self._random_factor

    @property
    def maximum_retries(self) -> int:
        """retry.maximumRetries: the number of retries after the first attempt."""
        return self._maximum_retries

    @property
    def ignored_exceptions(self) -> tuple[str, ...]:
        """retry.ignoredExceptions: qualified names of exceptions that are never retried."""
        return self._ignored_exceptions

    def get_seconds_before_retry(self, retry: int, exception: BaseException) -> float | None:
        """Seconds to wait before the 0-based retry `retry` after `exception`.

        None means do not retry: retry >= maximum_retries, or the exception is ignored.
        Otherwise the delay, never negative (a delay of 0 means retry at once). A random
        number is drawn only when a delay is returned.
        """
        r = _index(retry)
        if r >= self._maximum_retries:
            return None
        if exception_matches(exception, self._ignored_set):
            return None
        delay = compute_delay(
            r,
            self._minimum_seconds,
            self._maximum_seconds,
            self._backoff_coefficient,
            self._random_factor,
            self._random.random(),
        )
        return delay if delay > 0.0 else 0.0

    def _key(self) -> tuple[float, float, float, float, int, tuple[str, ...]]:
        return (
            self._minimum_seconds,
            self._maximum_seconds,
            self._backoff_coefficient,
            self._random_factor,
            self._maximum_retries,
            self._ignored_exceptions,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExponentialBackoff):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"ExponentialBackoff(minimum_seconds={self._minimum_seconds!r}, "
            f"maximum_seconds={self._maximum_seconds!r}, "
            f"backoff_coefficient={self._backoff_coefficient!r}, "
            f"random_factor={self._random_factor!r}, "
            f"maximum_retries={self._maximum_retries!r}, "
            f"ignored_exceptions={self._ignored_exceptions!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (*self._key(), self._random))
