"""The timeout and retry policies that apply to each task of a service (resolution order of
Infinitic: worker config > method decorator > class decorator > WithTimeout/WithRetry implemented
by the service > default). What an interface declares is read by `infinitic.common.spec`."""

from __future__ import annotations

import typing
from typing import Any

from ..common.spec import (
    RETRY_ATTR,
    TIMEOUT_ATTR,
    EntitySpec,
    MethodSpec,
    describe,
    entity_name,
    find_interface,
    qualified_name,
)
from .policies import DEFAULT_RETRY, WithRetry, WithTimeout

# the interface model lives in common/spec.py; these names stay importable from here
__all__ = [
    "EntitySpec",
    "MethodSpec",
    "describe",
    "entity_name",
    "find_interface",
    "qualified_name",
    "resolve_retry",
    "resolve_timeout",
]


def _impl_classes(impl: type) -> list[type]:
    """Classes of the implementation, nearest first, stopping at the interface."""
    interface = find_interface(impl)
    if interface is impl:  # a service without a separate interface: its decorators are runtime ones
        return [impl]
    out = []
    for klass in impl.__mro__:
        if klass is interface or klass is object:
            break
        out.append(klass)
    return out


def _decorated(impl: type, attribute: str, attr: str) -> Any:
    """The policy from a method decorator, else a class decorator, of the implementation."""
    classes = _impl_classes(impl)
    for klass in classes:
        fn = vars(klass).get(attribute)
        if fn is not None and hasattr(fn, attr):
            return getattr(fn, attr)
    for klass in classes:
        if attr in vars(klass):
            return vars(klass)[attr]
    return None


def resolve_timeout(
    instance: object, attribute: str, configured: WithTimeout | None
) -> WithTimeout | None:
    """worker config > method decorator > class decorator > WithTimeout > None (no timeout)."""
    if configured is not None:
        return configured
    decorated = _decorated(type(instance), attribute, TIMEOUT_ATTR)
    if decorated is not None:
        return typing.cast(WithTimeout, decorated)
    if callable(getattr(instance, "get_timeout_in_seconds", None)):
        return typing.cast(WithTimeout, instance)
    return None


def resolve_retry(instance: object, attribute: str, configured: WithRetry | None) -> WithRetry:
    """worker config > method decorator > class decorator > WithRetry > default backoff."""
    if configured is not None:
        return configured
    decorated = _decorated(type(instance), attribute, RETRY_ATTR)
    if decorated is not None:
        return typing.cast(WithRetry, decorated)
    if callable(getattr(instance, "get_seconds_before_retry", None)):
        return typing.cast(WithRetry, instance)
    return DEFAULT_RETRY
