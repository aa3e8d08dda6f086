"""What a service class declares: its name, its tasks and their signatures, and the policies
that apply to each task (resolution order of Infinitic: worker config > method decorator >
class decorator > WithTimeout/WithRetry implemented by the service > default)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..common.declarations import has_no_body
from ..common.serialization import check_annotations
from ..errors import SerializationError
from .decorators import BATCH_ATTR, NAME_ATTR, RETRY_ATTR, TIMEOUT_ATTR
from .policies import DEFAULT_RETRY, WithRetry, WithTimeout


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def find_interface(cls: type) -> type:
    """The interface of a service (or workflow) class.

    The nearest class in the MRO that carries its own @name; else, going up from `cls` through
    single bases (other than object, Workflow, WithTimeout and WithRetry), the first class that
    only declares its methods (none of its own has a body: `...`, `pass`, abstract, `raise
    NotImplementedError`; methods it inherits from its own bases are part of it); else the class
    where that chain stops.
    """
    for klass in cls.__mro__:
        if NAME_ATTR in vars(klass):
            return klass
    current = cls
    while True:
        declared = [
            value
            for attribute, value in vars(current).items()
            if not attribute.startswith("_")
            and attribute not in _POLICY_METHODS
            and inspect.isfunction(value)
        ]
        if declared and all(map(has_no_body, declared)):
            return current
        bases = [
            b
            for b in current.__bases__
            if b not in (object, WithTimeout, WithRetry) and "_infinitic_root" not in vars(b)
        ]
        if len(bases) != 1 or bases[0].__module__ == "builtins":
            return current
        current = bases[0]


# policy methods an interface may implement (WithTimeout, WithRetry): not tasks
_POLICY_METHODS = frozenset(
    (
        "get_timeout_in_seconds",
        "get_seconds_before_retry",
        "get_grace_period_after_timeout_in_seconds",
    )
)


def entity_name(cls: type) -> str:
    """@name of the class or its interface, else the interface's qualified name."""
    interface = find_interface(cls)
    value = vars(interface).get(NAME_ATTR)
    return value if isinstance(value, str) else qualified_name(interface)


@dataclass(frozen=True)
class MethodSpec:
    """One task (or workflow method): its wire name and how to encode/decode it."""

    name: str
    attribute: str
    signature: inspect.Signature
    param_names: tuple[str, ...]
    param_types: tuple[Any, ...]
    return_type: Any
    caller_timeout: float | None  # @timeout on the interface: a deadline seen by callers
    # the number of parameters when all are plain positional-or-keyword ones, else -1: a call
    # with exactly that many positional arguments needs no binding
    positional_count: int = -1
    # why a call cannot be made: an annotation the decoder does not know (SerializationError)
    type_error: str | None = None

    def bind(self, owner: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        """Positional argument values, checked against the signature."""
        if self.type_error is not None:
            raise SerializationError(self.type_error)
        if not kwargs and len(args) == self.positional_count:
            return list(args)  # the common case, without inspect's general machinery
        try:
            bound = self.signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{owner}.{self.name}: {exc}") from None
        bound.apply_defaults()
        return list(bound.args[1:])


@dataclass(frozen=True)
class EntitySpec:
    """A service or workflow interface: its name and its methods by wire name."""

    name: str
    interface: type
    methods: dict[str, MethodSpec]
    by_attribute: dict[str, MethodSpec]

    def method(self, attribute: str) -> MethodSpec:
        try:
            return self.by_attribute[attribute]
        except KeyError:
            raise AttributeError(f"{self.name} has no method {attribute!r}") from None


_SPECS: dict[object, EntitySpec] = {}


def describe(cls: object) -> EntitySpec:
    """The spec of the interface of `cls` (an interface or an implementation), cached.

    `object`: the public signatures take `type[T] | Callable[..., T]` so that abstract classes
    and Protocols type-check (docs/typing.md); anything but a class is refused here."""
    spec = _SPECS.get(cls)
    if spec is None:
        if not isinstance(cls, type):
            raise TypeError(f"expected an interface class, got {cls!r}")
        spec = _SPECS[cls] = _describe(cls)
    return spec


def _describe(cls: type) -> EntitySpec:
    interface = find_interface(cls)
    name = entity_name(cls)
    methods: dict[str, MethodSpec] = {}
    by_attribute: dict[str, MethodSpec] = {}
    for attribute, fn in _public_methods(interface):
        # @name on a method may sit on the interface or on the implementation
        impl_fn = getattr(cls, attribute, fn)
        wire = getattr(impl_fn, NAME_ATTR, None) or getattr(fn, NAME_ATTR, None) or attribute
        signature = inspect.signature(fn)
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # noqa: BLE001 - unresolvable annotations decode as plain JSON
            hints = {}
        params = list(signature.parameters.values())[1:]
        param_types = tuple(hints.get(p.name, Any) for p in params)
        return_type = hints.get("return", Any)
        caller_timeout = _static_timeout(
            getattr(fn, TIMEOUT_ATTR, None)
            or vars(interface).get(TIMEOUT_ATTR)
            or _interface_with_timeout(interface)
        )
        spec = MethodSpec(
            name=wire,
            attribute=attribute,
            signature=signature,
            param_names=tuple(p.name for p in params),
            param_types=param_types,
            return_type=return_type,
            caller_timeout=caller_timeout,
            positional_count=_positional_count(signature),
            type_error=check_annotations(
                (*param_types, return_type), [p.name for p in params], f"{name}.{wire}"
            ),
        )
        if wire in methods:
            raise TypeError(f"{qualified_name(interface)}: two methods are named {wire!r}")
        methods[wire] = spec
        by_attribute[attribute] = spec
    return EntitySpec(name, interface, methods, by_attribute)


def _public_methods(interface: type) -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for klass in reversed(interface.__mro__):
        if klass is object or "_infinitic_root" in vars(klass):
            continue
        for attribute, value in vars(klass).items():
            if attribute.startswith("_") or not inspect.isfunction(value):
                continue
            if hasattr(value, BATCH_ATTR):  # runs the batches of a task: not a task itself
                continue
            if attribute in _POLICY_METHODS:
                continue
            found.append((attribute, value))
    unique: dict[str, Callable[..., Any]] = {}
    for attribute, value in found:
        unique[attribute] = value
    return list(unique.items())


def _interface_with_timeout(interface: type) -> Any:
    """An interface that implements WithTimeout itself: its deadline applies to every method
    (read on a bare instance: the interface is never constructed)."""
    if not callable(getattr(interface, "get_timeout_in_seconds", None)):
        return None
    try:
        return object.__new__(interface)
    except TypeError:
        return None


def _static_timeout(policy: Any) -> float | None:
    if policy is None:
        return None
    try:
        value = policy.get_timeout_in_seconds()
    except Exception:  # noqa: BLE001 - reads the task context (or state): no static value
        return None
    return None if value is None else float(value)


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


def _positional_count(signature: inspect.Signature) -> int:
    params = list(signature.parameters.values())[1:]
    plain = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)
    return len(params) if plain else -1
