"""The WithTimeout and WithRetry protocols, and the policies the decorators build from numbers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from .._core.backoff import ExponentialBackoff


@runtime_checkable
class WithTimeout(Protocol):
    """Implemented by a service (or given to @timeout) to set the runtime timeout of its tasks."""

    def get_timeout_in_seconds(self) -> float | None: ...


@runtime_checkable
class WithRetry(Protocol):
    """Implemented by a service (or given to @retry): the delay before retry `retry` (0-based),
    or None to stop retrying."""

    def get_seconds_before_retry(self, retry: int, exception: BaseException) -> float | None: ...


class FixedTimeout:
    """A WithTimeout of a fixed number of seconds (None: no timeout)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float | None) -> None:
        if seconds is not None and not seconds > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {seconds!r}")
        self.seconds = None if seconds is None else float(seconds)

    def get_timeout_in_seconds(self) -> float | None:
        return self.seconds

    def __repr__(self) -> str:
        return f"FixedTimeout({self.seconds!r})"


class NoRetry:
    """A WithRetry that never retries."""

    def get_seconds_before_retry(self, retry: int, exception: BaseException) -> float | None:
        return None


def backoff_policy(
    *,
    minimum_seconds: float = 1.0,
    maximum_seconds: float | None = None,
    backoff_coefficient: float = 2.0,
    random_factor: float = 0.5,
    maximum_retries: int = 11,
    ignored_exceptions: Iterable[str | type[BaseException]] = (),
) -> ExponentialBackoff:
    """Truncated randomized exponential backoff; exception classes may be given as classes."""
    names = [
        e if isinstance(e, str) else f"{e.__module__}.{e.__qualname__}" for e in ignored_exceptions
    ]
    return ExponentialBackoff(
        minimum_seconds=minimum_seconds,
        maximum_seconds=maximum_seconds if maximum_seconds is not None else 1000 * minimum_seconds,
        backoff_coefficient=backoff_coefficient,
        random_factor=random_factor,
        maximum_retries=maximum_retries,
        ignored_exceptions=names,
    )


DEFAULT_RETRY: WithRetry = backoff_policy()
