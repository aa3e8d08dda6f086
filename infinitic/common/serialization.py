"""JSON payloads through orjson, decoded back into the annotated Python types.

Supported: None, bool, int, float, str, bytes (base64), dataclasses, NamedTuples (a JSON array),
TypedDicts, enums, datetime/date/time, timedelta (an ISO 8601 duration, "P1DT3600S"; a number of
seconds is also read), UUID, Decimal, list/tuple/set/frozenset/dict and their abstract
collections.abc forms, Optional/Union, Literal, NewType, Annotated, and pydantic models when
pydantic is installed. Annotations drive decoding; a value with no annotation (or `Any`) comes back
as plain JSON data. An annotation of any other type is refused (`unsupported` finds it): a stub
call with such a parameter or result raises SerializationError at the call, and a decoder never
hands raw JSON to code that expects that type.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import inspect
import re
import types
import typing
import uuid
from collections import abc
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import orjson

from ..errors import SerializationError

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
"""The largest encoded payload (arguments, a result, a signal) by default. A worker's own limit
(`maxPayloadBytes` in its config) is passed by its client and executors as `max_bytes`."""


def _too_large(what: str, size: int, limit: int) -> SerializationError:
    return SerializationError(
        f"{what} is {size} bytes, over the limit of {limit} bytes "
        "(the payload limit: maxPayloadBytes in the config)"
    )


def _default(value: Any) -> Any:
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr) if value else []
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    dump = getattr(value, "model_dump", None)  # pydantic v2
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"{type(value).__qualname__} is not JSON serializable")


def _encode(value: Any, what: str) -> bytes:
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        problem = str(exc)
        if problem == "Recursion limit reached":
            problem = "nested deeper than 254 levels, or it contains itself"
        raise SerializationError(f"cannot serialize {what}: {problem}") from None
    except RecursionError:  # through `_default` (pydantic models, sets of sets...)
        raise SerializationError(f"cannot serialize {what}: nested too deeply") from None


CLASS_KEY = "@class"
"""The key under which a value's class travels, when it is not the declared type (a subclass,
or a member of a declared union): the decoder then builds that class."""
_PLAIN = frozenset({int, str, float, bool, type(None), list, dict, bytes})


def _is_object(value: Any) -> bool:
    return dataclasses.is_dataclass(value) or callable(getattr(value, "model_dump", None))


def tagged(value: Any, declared: Any) -> Any:
    """`value`, or, for a dataclass or pydantic value whose class is not exactly `declared`
    (Any excepted), its JSON form with its qualified class name under CLASS_KEY."""
    cls = type(value)
    if cls in _PLAIN or cls is declared or declared is Any or not _is_object(value):
        return value
    data = orjson.loads(_encode(value, "value"))
    if not isinstance(data, dict):
        return value
    data[CLASS_KEY] = f"{cls.__module__}.{cls.__qualname__}"
    return data


# id(types) -> (types, whether a value of one of them may carry its class): specs keep their
# parameter types for good, and the entry keeps them alive, so an id is never reused
_TAGGABLE: dict[int, tuple[Sequence[Any], bool]] = {}


def _may_tag(declared: Sequence[Any]) -> bool:
    found = _TAGGABLE.get(id(declared))
    if found is None:
        flag = any(
            (isinstance(t, type) and t.__module__ != "builtins")
            or typing.get_origin(t) in (typing.Union, types.UnionType)
            for t in declared
        )
        found = _TAGGABLE[id(declared)] = (declared, flag)
    return found[1]


def dumps(
    value: Any, what: str = "value", max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES, declared: Any = Any
) -> bytes:
    """Encodes one value; `what` names it in the error ("argument 'who' of HelloService.greet").
    Larger than the payload limit is a SerializationError, so nothing oversized is sent. A
    value of a subclass of its `declared` type carries its class (see `tagged`)."""
    if declared is not Any:
        value = tagged(value, declared)
    data = _encode(value, what)
    if len(data) > max_bytes:
        raise _too_large(f"cannot serialize {what}: it", len(data), max_bytes)
    return data


def encode_args(
    values: Sequence[Any],
    names: Sequence[str],
    where: str,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    declared: Sequence[Any] = (),
) -> bytes:
    """Encodes positional arguments as a JSON array, naming the faulty argument on error;
    with their `declared` types, an argument of a subclass carries its class (`tagged`)."""
    if declared and _may_tag(declared):
        for v in values:
            if type(v) not in _PLAIN:  # (the common case, plain values, copies nothing)
                values = [
                    tagged(x, declared[i] if i < len(declared) else Any)
                    for i, x in enumerate(values)
                ]
                break
    try:
        data = orjson.dumps(list(values), default=_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError, RecursionError):
        for i, value in enumerate(values):
            label = names[i] if i < len(names) else str(i)
            _encode(value, f"argument '{label}' of {where}")
        raise
    if len(data) > max_bytes:
        sizes = [len(_encode(v, "")) for v in values]
        i = max(range(len(sizes)), key=sizes.__getitem__)
        label = names[i] if i < len(names) else str(i)
        raise _too_large(
            f"cannot serialize the arguments of {where}: they are {len(data)} bytes (argument "
            f"'{label}': {sizes[i]} bytes); the call",
            len(data),
            max_bytes,
        )
    return data


def loads(data: bytes, what: str = "payload", max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Any:
    """Decodes a payload; one over the payload limit is refused before it is parsed."""
    if len(data) > max_bytes:
        raise _too_large(f"cannot decode {what}: it", len(data), max_bytes)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SerializationError(f"cannot decode {what}: {exc}") from None


Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


_SEQUENCES = (list, abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection)
_SETS = (set, frozenset, abc.Set, abc.MutableSet)
_MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)


def _unwrap(tp: Any) -> Any:
    """The type a decoder works with: Annotated[T, ...] -> T, NewType -> its base, TypeVar ->
    its bound (else Any)."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif isinstance(tp, typing.TypeVar):
            tp = tp.__bound__ if tp.__bound__ is not None else Any
        elif callable(tp) and hasattr(tp, "__supertype__"):  # NewType
            tp = tp.__supertype__
        else:
            return tp


@lru_cache(maxsize=1024)
def converter_for(tp: Any) -> Converter:
    """A function that turns decoded JSON into an instance of `tp` (cached per type)."""
    tp = _unwrap(tp)
    if tp is Any or tp is inspect.Parameter.empty or tp is object:
        return _identity
    if tp is None or tp is type(None):
        return _expect_none
    origin = typing.get_origin(tp) or (tp if isinstance(tp, type) else None)
    if origin is typing.Union or origin is types.UnionType:
        return _union_converter(typing.get_args(tp))
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        return lambda v: _check(v in allowed, v, tp)
    if origin in _SEQUENCES:
        item = _arg(tp, 0)
        return lambda v: [item(x) for x in _expect(v, list, tp)]
    if origin in _SETS:
        item = _arg(tp, 0)
        kind = frozenset if origin is frozenset else set
        return lambda v: kind(item(x) for x in _expect(v, list, tp))
    if origin is tuple:
        return _tuple_converter(tp)
    if origin in _MAPPINGS:
        args = typing.get_args(tp)
        key = _key_converter(args[0]) if args else _identity
        val = _arg(tp, 1)
        return lambda v: {key(k): val(x) for k, x in _expect(v, dict, tp).items()}
    if isinstance(tp, type):
        return _class_converter(tp) or _unsupported_converter(tp)
    return _unsupported_converter(tp)


def unsupported(tp: Any, _seen: frozenset[Any] = frozenset()) -> Any | None:
    """The first type in annotation `tp` (its members, fields and items included) that the
    decoder does not know, else None."""
    tp = _unwrap(tp)
    if tp in (Any, None, type(None), object, inspect.Parameter.empty, Ellipsis):
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return None
    if origin is not None:
        if origin not in (typing.Union, types.UnionType, tuple) + _SEQUENCES + _SETS + _MAPPINGS:
            return tp
        for arg in typing.get_args(tp):
            found = unsupported(arg, _seen)
            if found is not None:
                return found
        return None
    if not isinstance(tp, type) or tp in _seen:
        return None if isinstance(tp, type) else tp
    if _class_converter(tp) is None and tp not in _SEQUENCES + _SETS + _MAPPINGS + (tuple,):
        return tp
    fields = _field_types(tp)
    for field_type in fields.values():
        found = unsupported(field_type, _seen | {tp})
        if found is not None:
            return found
    return None


def _field_types(cls: type) -> dict[str, Any]:
    """The annotated fields of a dataclass, NamedTuple or TypedDict, else nothing."""
    if not (dataclasses.is_dataclass(cls) or _is_named_tuple(cls) or typing.is_typeddict(cls)):
        return {}
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - unresolvable field annotations decode as plain JSON
        return {}


def _unsupported_converter(tp: Any) -> Converter:
    def refuse(value: Any) -> Any:
        raise SerializationError(f"no decoder for {_type_name(tp)}: {_SUPPORTED}")

    return refuse


_SUPPORTED = (
    "use a JSON type, a dataclass, a NamedTuple, a TypedDict, an enum, datetime/date/time/"
    "timedelta, UUID, Decimal, bytes, a pydantic model, or collections of those"
)


def check_annotations(types: Sequence[Any], names: Sequence[str], where: str) -> str | None:
    """Why a method with these annotations (the parameters', then the result's) cannot be
    called, or None: the message of the SerializationError its call raises."""
    for i, tp in enumerate(types):
        found = unsupported(tp)
        if found is not None:
            what = f"parameter '{names[i]}'" if i < len(names) else "the result"
            return f"cannot call {where}: {what} is annotated {_type_name(found)}; {_SUPPORTED}"
    return None


def _key_converter(tp: Any) -> Converter:
    # JSON object keys are strings: numbers used as keys come back from their text
    tp = _unwrap(tp)
    if tp is int:
        return lambda k: int(k)
    if tp is float:
        return lambda k: float(k)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        member_type = type(next(iter(tp)).value) if len(tp) else str
        return lambda k: tp(member_type(k))
    return converter_for(tp)


def _arg(tp: Any, i: int) -> Converter:
    args = typing.get_args(tp)
    return converter_for(args[i]) if len(args) > i else _identity


def _expect(value: Any, kind: type, tp: Any) -> Any:
    if not isinstance(value, kind):
        raise SerializationError(f"expected {_type_name(tp)}, got {type(value).__name__}")
    return value


def _check(ok: bool, value: Any, tp: Any) -> Any:
    if not ok:
        raise SerializationError(f"{value!r} is not a valid {_type_name(tp)}")
    return value


def _expect_none(value: Any) -> None:
    if value is not None:
        raise SerializationError(f"expected null, got {type(value).__name__}")
    return None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__qualname__", None) or repr(tp)


def _union_converter(args: tuple[Any, ...]) -> Converter:
    has_none = type(None) in args
    others = [converter_for(a) for a in args if a is not type(None)]

    def convert(value: Any) -> Any:
        if value is None and has_none:
            return None
        errors = []
        for conv in others:
            try:
                return conv(value)
            except (SerializationError, ValueError, TypeError) as exc:
                errors.append(str(exc))
        raise SerializationError("; ".join(errors) or f"unexpected {value!r}")

    return convert


def _tuple_converter(tp: Any) -> Converter:
    args = typing.get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        item = converter_for(args[0])
        return lambda v: tuple(item(x) for x in _expect(v, list, tp))
    if not args:
        return lambda v: tuple(_expect(v, list, tp))
    items = [converter_for(a) for a in args]

    def convert(value: Any) -> tuple[Any, ...]:
        seq = _expect(value, list, tp)
        if len(seq) != len(items):
            raise SerializationError(f"expected {len(items)} items for {tp}, got {len(seq)}")
        return tuple(conv(x) for conv, x in zip(items, seq, strict=True))

    return convert


def _is_named_tuple(cls: type) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields")


def _class_converter(cls: type) -> Converter | None:
    """The converter of a class the decoder knows, else None."""
    if cls is bool:
        return lambda v: _check(isinstance(v, bool), v, cls)
    if cls is int:
        return lambda v: _check(isinstance(v, int) and not isinstance(v, bool), v, cls)
    if cls is float:
        return lambda v: float(
            _check(isinstance(v, (int, float)) and not isinstance(v, bool), v, cls)
        )
    if cls is str:
        return lambda v: _check(isinstance(v, str), v, cls)
    if cls is bytes:
        return lambda v: base64.b64decode(_expect(v, str, cls), validate=True)
    if issubclass(cls, enum.Enum):
        return lambda v: cls(v)
    if cls is dt.datetime:
        return lambda v: dt.datetime.fromisoformat(_expect(v, str, cls))
    if cls is dt.date:
        return lambda v: dt.date.fromisoformat(_expect(v, str, cls))
    if cls is dt.time:
        return lambda v: dt.time.fromisoformat(_expect(v, str, cls))
    if cls is dt.timedelta:
        return parse_duration
    if cls is uuid.UUID:
        return lambda v: uuid.UUID(_expect(v, str, cls))
    if cls is decimal.Decimal:
        return lambda v: decimal.Decimal(str(v))
    if dataclasses.is_dataclass(cls):
        return _polymorphic(cls, _dataclass_converter(cls))
    if _is_named_tuple(cls):
        return _named_tuple_converter(cls)
    if typing.is_typeddict(cls):
        return _typed_dict_converter(cls)
    validate = getattr(cls, "model_validate", None)  # pydantic v2
    if callable(validate):
        return _polymorphic(cls, lambda v: validate(v))
    return None


def _named_tuple_converter(cls: type) -> Converter:
    # encoded as a JSON array (orjson's tuple); an object keyed by field names is read too
    def convert(value: Any) -> Any:
        hints = _field_types(cls)
        names: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
        if isinstance(value, dict):
            items = {k: v for k, v in value.items() if k in names}
        else:
            seq = _expect(value, list, cls)
            if len(seq) > len(names):
                raise SerializationError(
                    f"expected at most {len(names)} items for {cls.__qualname__}, got {len(seq)}"
                )
            items = dict(zip(names, seq, strict=False))  # fewer: defaults
        try:
            return cls(**{k: converter_for(hints.get(k, Any))(v) for k, v in items.items()})
        except TypeError as exc:
            raise SerializationError(f"cannot build {cls.__qualname__}: {exc}") from None

    return convert


def _typed_dict_converter(cls: type) -> Converter:
    def convert(value: Any) -> Any:
        hints = _field_types(cls)
        data = _expect(value, dict, cls)
        return {k: converter_for(hints.get(k, Any))(v) for k, v in data.items()}

    return convert


_DURATION = re.compile(
    r"(?P<sign>[-+])?P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def format_duration(value: dt.timedelta) -> str:
    """A timedelta as an exact ISO 8601 duration: days, then seconds ("-P1DT3600.5S", "PT0S")."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    text = f"{sign}P{value.days}D" if value.days else f"{sign}P"
    if value.seconds or value.microseconds or not value.days:
        fraction = f".{value.microseconds:06d}".rstrip("0") if value.microseconds else ""
        text += f"T{value.seconds}{fraction}S"
    return text


def parse_duration(value: Any) -> dt.timedelta:
    """An ISO 8601 duration without years and months (their length varies), or seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.timedelta(seconds=value)
    match = _DURATION.fullmatch(_expect(value, str, dt.timedelta))
    if match is None or value.endswith(("P", "T")):
        raise SerializationError(
            f"{value!r} is not an ISO 8601 duration such as 'P1DT2H30M' (years and months are "
            "not accepted: their length varies)"
        )
    parts = {k: float(v) for k, v in match.groupdict().items() if v and k != "sign"}
    delta = dt.timedelta(**parts)
    return -delta if match.group("sign") == "-" else delta


def _polymorphic(cls: type, own: Converter) -> Converter:
    """`own`, unless the JSON object names its class (CLASS_KEY): then that class's converter,
    if it is `cls` or a subclass of it; any other name is refused (nothing else is built)."""
    qualified = f"{cls.__module__}.{cls.__qualname__}"

    def convert(value: Any) -> Any:
        if not isinstance(value, dict) or CLASS_KEY not in value:
            return own(value)
        data = {k: v for k, v in value.items() if k != CLASS_KEY}
        named = value[CLASS_KEY]
        if named == qualified:
            return own(data)
        sub = _subclass_named(cls, named)
        if sub is None:
            raise SerializationError(f"{named!r} is not {cls.__qualname__} or a subclass of it")
        return converter_for(sub)(data)

    return convert


def _subclass_named(cls: type, qualified: Any) -> type | None:
    pending: list[type] = list(cls.__subclasses__())
    while pending:
        sub = pending.pop()
        if f"{sub.__module__}.{sub.__qualname__}" == qualified:
            return sub
        pending.extend(sub.__subclasses__())
    return None


def _dataclass_converter(cls: type) -> Converter:
    # the field converters are built at the first use, not now: a dataclass that refers to
    # itself (a tree) would otherwise recurse here forever
    built: list[list[tuple[str, Converter]]] = []

    def convert(value: Any) -> Any:
        if built:
            fields = built[0]
        else:  # a race builds it twice, harmlessly: the list is published whole
            hints = typing.get_type_hints(cls)
            fields = [
                (f.name, converter_for(hints.get(f.name, Any)))
                for f in dataclasses.fields(cls)
                if f.init
            ]
            built.append(fields)
        data = _expect(value, dict, cls)
        kwargs = {}
        for fname, conv in fields:
            if fname in data:
                try:
                    kwargs[fname] = conv(data[fname])
                except SerializationError as exc:
                    raise SerializationError(f"{cls.__qualname__}.{fname}: {exc}") from None
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise SerializationError(f"cannot build {cls.__qualname__}: {exc}") from None

    return convert


def convert(value: Any, tp: Any, what: str = "value") -> Any:
    """Decoded JSON `value` as an instance of `tp`; errors name `what`."""
    try:
        return converter_for(tp)(value)
    except SerializationError as exc:
        raise SerializationError(f"cannot decode {what}: {exc}") from None
    except RecursionError:
        # a self-referring type (a tree) fed a deeply nested payload
        raise SerializationError(
            f"cannot decode {what} as {_type_name(tp)}: nested too deeply"
        ) from None
    except (ValueError, TypeError) as exc:
        raise SerializationError(f"cannot decode {what} as {_type_name(tp)}: {exc}") from None
