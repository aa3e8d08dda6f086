"""@name, @timeout and @retry: they validate and attach metadata, and register nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..common.spec import BATCH_ATTR, NAME_ATTR, RETRY_ATTR, TIMEOUT_ATTR
from .policies import FixedTimeout, WithRetry, WithTimeout, backoff_policy

T = TypeVar("T")

DELEGATED_ATTR = "__infinitic_delegated__"


def name(value: str) -> Callable[[T], T]:
    """The name Infinitic uses for a service or workflow class, or for a task method."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"@name needs a non-empty string, got {value!r}")

    def apply(target: T) -> T:
        _check_target("@name", target)
        setattr(target, NAME_ATTR, value)
        return target

    return apply


def timeout(
    policy: type[WithTimeout] | WithTimeout | float | None = None, *, seconds: float | None = None
) -> Callable[[T], T]:
    """Runtime timeout of a task (on a method) or of every task (on a class).

    `@timeout(seconds=5)`, `@timeout(5)`, or `@timeout(MyWithTimeout)` (a class or an instance
    with `get_timeout_in_seconds`). On an interface it is the caller-side deadline instead.
    """
    resolved: WithTimeout
    if seconds is not None and policy is not None:
        raise ValueError("@timeout takes either a policy or seconds=, not both")
    if policy is None:
        if seconds is None:
            raise ValueError("@timeout needs seconds= or a WithTimeout class")
        resolved = FixedTimeout(seconds)
    elif isinstance(policy, (int, float)) and not isinstance(policy, bool):
        resolved = FixedTimeout(float(policy))
    else:
        resolved = _instantiate(policy, "get_timeout_in_seconds", "@timeout", "WithTimeout")
    return _attach(TIMEOUT_ATTR, resolved, "@timeout")


def retry(
    policy: type[WithRetry] | WithRetry | None = None,
    *,
    minimum_seconds: float = 1.0,
    maximum_seconds: float | None = None,
    backoff_coefficient: float = 2.0,
    random_factor: float = 0.5,
    maximum_retries: int = 11,
    ignored_exceptions: Iterable[str | type[BaseException]] = (),
) -> Callable[[T], T]:
    """Retry policy of a task (on a method) or of every task (on a class).

    `@retry(MyWithRetry)` (a class or an instance with `get_seconds_before_retry`), or
    `@retry(maximum_retries=3, minimum_seconds=0.5, ...)` for an exponential backoff.
    """
    resolved: WithRetry
    if policy is None:
        resolved = backoff_policy(
            minimum_seconds=minimum_seconds,
            maximum_seconds=maximum_seconds,
            backoff_coefficient=backoff_coefficient,
            random_factor=random_factor,
            maximum_retries=maximum_retries,
            ignored_exceptions=ignored_exceptions,
        )
    else:
        resolved = _instantiate(policy, "get_seconds_before_retry", "@retry", "WithRetry")
    return _attach(RETRY_ATTR, resolved, "@retry")


def _instantiate(policy: Any, method: str, decorator: str, protocol: str) -> Any:
    instance = policy() if isinstance(policy, type) else policy
    if not callable(getattr(instance, method, None)):
        raise TypeError(f"{decorator} needs a {protocol} (with {method}), got {policy!r}")
    return instance


def _attach(attr: str, value: Any, decorator: str) -> Callable[[T], T]:
    def apply(target: T) -> T:
        _check_target(decorator, target)
        setattr(target, attr, value)
        return target

    return apply


def _check_target(decorator: str, target: Any) -> None:
    if not (isinstance(target, type) or callable(target)):
        raise TypeError(f"{decorator} applies to a class or a method, not {target!r}")


def delegated(fn: T) -> T:
    """Marks a task method of the implementation whose result is given later, by
    `client.complete_delegated_task(service_name, task.task_id, result)`: what the method
    returns is ignored, and the task stays running until then."""
    if not callable(fn) or isinstance(fn, type):
        raise TypeError(f"@delegated applies to a task method, not {fn!r}")
    setattr(fn, DELEGATED_ATTR, True)
    return fn


def batch(method: str) -> Callable[[T], T]:
    """Marks the method that runs the tasks of `method` in batches: it takes
    `dict[task_id, args]` (the argument itself for a one-parameter task, else an object whose
    attributes are the parameters) and returns `dict[task_id, result]` (or None for a task
    returning None). Batches follow the service's `batch: {maxMessages, maxSeconds}` config."""
    if not isinstance(method, str) or not method.isidentifier():
        raise ValueError(f"@batch needs the name of the task method it runs, got {method!r}")

    def apply(fn: T) -> T:
        if not callable(fn) or isinstance(fn, type):
            raise TypeError(f"@batch applies to a method, not {fn!r}")
        setattr(fn, BATCH_ATTR, method)
        return fn

    return apply
