"""The WithTimeout and WithRetry protocols, and the policies the decorators build from numbers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from .._core.backoff import ExponentialBackoff


@runtime_checkable
class WithTimeout(Protocol):
    """Implemented by a service (or given to @timeout) to set the runtime timeout of its tasks."""

    def get_timeout_in_seconds(self) -> float | None: ...


def _no_grace_period(self: object) -> float:
    """How long a task that timed out may still run to clean up (`task.on_timeout`,
    `task.has_timed_out`) before its attempt is failed; 0 by default. Override it next to
    `get_timeout_in_seconds`."""
    return 0.0


# inherited by classes that subclass WithTimeout, but not a protocol member: a class with only
# get_timeout_in_seconds still is a WithTimeout (for isinstance and for type checkers)
WithTimeout.get_grace_period_after_timeout_in_seconds = _no_grace_period  # type: ignore[attr-defined]


def grace_period(policy: object) -> float:
    """The grace period of a timeout policy (0 when it does not say)."""
    method = getattr(policy, "get_grace_period_after_timeout_in_seconds", None)
    value = method() if callable(method) else 0.0
    return max(0.0, float(value or 0.0))


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
