"""What an interface declares, read the same way by services, workflows, clients and executors:
its name, its methods and their signatures, its channels, which methods are `async def`.

The decorators of `infinitic.service` attach their metadata under the attribute names below;
policy resolution (which timeout and retry apply) stays in `infinitic.service.spec`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..errors import SerializationError
from .declarations import has_no_body
from .serialization import Converter, check_annotations, convert, converter_for, loads

NAME_ATTR = "__infinitic_name__"
TIMEOUT_ATTR = "__infinitic_timeout__"
RETRY_ATTR = "__infinitic_retry__"
BATCH_ATTR = "__infinitic_batch__"
# set on the class of a workflow's channels (workflow.Channel): how they are found on an
# interface without importing the workflow package
CHANNEL_ATTR = "_infinitic_channel"

# the policy protocols of infinitic.service (WithTimeout, WithRetry) are not interfaces: found by
# name, since a marker attribute on a runtime-checkable Protocol would become a member of it
_POLICY_BASES = frozenset(
    (("infinitic.service.policies", "WithTimeout"), ("infinitic.service.policies", "WithRetry"))
)


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
            if b is not object
            and (b.__module__, b.__qualname__) not in _POLICY_BASES
            and "_infinitic_root" not in vars(b)
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

    def decode_args(self, payload: bytes, owner: str, max_bytes: int) -> list[Any]:
        """The arguments of a call from its JSON array `payload`, as the declared types.

        Raises SerializationError (a payload or an argument that does not decode) or TypeError
        (not an array, or arguments the signature refuses); messages name `owner`.method."""
        where = f"{owner}.{self.name}"
        raw = loads(payload, f"the arguments of {where}", max_bytes)
        if not isinstance(raw, list):
            raise TypeError(f"the arguments of {where} are not a JSON array")
        if len(raw) != self.positional_count:  # else it binds: skip inspect's machinery
            try:
                self.signature.bind(None, *raw)
            except TypeError as exc:
                raise TypeError(f"{where} called with {len(raw)} arguments: {exc}") from None
        try:
            converters = self._converters
            if len(raw) <= len(converters):
                return [conv(value) for conv, value in zip(converters, raw, strict=False)]
        except (SerializationError, RecursionError, ValueError, TypeError):
            pass  # converted again below, to name the argument at fault
        names, types = self.param_names, self.param_types
        return [
            convert(
                value,
                types[i] if i < len(types) else Any,
                f"argument {names[i] if i < len(names) else str(i)!r} of {where}",
            )
            for i, value in enumerate(raw)
        ]

    @cached_property
    def _converters(self) -> tuple[Converter, ...]:
        return tuple(converter_for(tp) for tp in self.param_types)


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


def _positional_count(signature: inspect.Signature) -> int:
    params = list(signature.parameters.values())[1:]
    plain = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)
    return len(params) if plain else -1


class DeclaredChannel(typing.Protocol):
    """A channel declared on a workflow interface (workflow.Channel), as a client sees it."""

    name: str

    @property
    def value_type(self) -> Any: ...


_CHANNELS: dict[type, dict[str, DeclaredChannel]] = {}


def channels_of(interface: type) -> dict[str, DeclaredChannel]:
    """The channels an interface declares, by attribute (looked up once per interface)."""
    found = _CHANNELS.get(interface)
    if found is None:
        found = {}
        for klass in reversed(interface.__mro__):
            for key, value in vars(klass).items():
                if getattr(type(value), CHANNEL_ATTR, False) is True:
                    found[key] = value
        _CHANNELS[interface] = found
    return found


_DECLARED_ASYNC: dict[tuple[type, str], bool] = {}


def declared_async(interface: type, attribute: str) -> bool:
    """Whether the interface declares the method `async def`: called from async code, a stub
    call then returns an awaitable (a Deferred in a workflow, a TaskHandle in a client), as its
    type says; sync code cannot await, so there it returns the value."""
    key = (interface, attribute)
    found = _DECLARED_ASYNC.get(key)
    if found is None:
        found = _DECLARED_ASYNC[key] = inspect.iscoroutinefunction(
            getattr(interface, attribute, None)
        )
    return found
