"""The cold half of the envelope codec, shared by `_envelope_c` and its twin `_envelope_py`.

Only the hot loops (writing and reading fields) are written twice. What both must agree on
byte for byte and word for word lives here once: the format constants, the check of a codec's
type table, and every error message (built only when something is wrong, so a call costs
nothing on the paths that succeed). See docs/envelope.md for the format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ._errors import EnvelopeError

MAGIC: bytes = b"IN"
"""The first two bytes of every envelope."""
FORMAT_VERSION: int = 1
"""The format version this release writes (and the newest it reads)."""
DEFAULT_MAX_SIZE: int = 64 * 1024 * 1024
"""Envelopes longer than this many bytes are refused before parsing."""
MAX_DEPTH: int = 32
"""How deeply `n` fields may nest messages (the top-level message is depth 0)."""
KINDS: str = "sSbiftmnLN"
"""The field kinds a codec understands."""

HEADER = MAGIC + bytes([FORMAT_VERSION])
MIN_I64 = -(1 << 63)
MAX_I64 = (1 << 63) - 1
MAX_U64 = (1 << 64) - 1

TypeTable = Sequence[tuple[int, type, Sequence[tuple[str, str]]]]


def varint_bytes(value: int) -> bytes:
    """The unsigned LEB128 encoding of `value` (type ids, once per registered type)."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def type_name(value: object) -> str:
    return type(value).__name__


def field_wheres(cls: type, names: tuple[str, ...]) -> tuple[str, ...]:
    """How errors name each field of `cls`: `Class.field`."""
    return tuple(f"{cls.__name__}.{name}" for name in names)


def validate_types(types: TypeTable, max_size: int) -> list[tuple[int, type, tuple[str, ...], str]]:
    """Checks a codec's type table; raises ValueError naming the faulty entry.

    Returns (type id, class, field names, field kinds as one str) per entry."""
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 3:
        raise ValueError(f"envelope max_size must be an int >= 3, not {max_size!r}")
    checked: list[tuple[int, type, tuple[str, ...], str]] = []
    ids: dict[int, type] = {}
    classes: dict[type, int] = {}
    for entry in types:
        try:
            type_id, cls, fields = entry
        except (TypeError, ValueError):
            raise ValueError(
                f"envelope type entry {entry!r} is not (type id, class, fields)"
            ) from None
        if not isinstance(cls, type):
            raise ValueError(f"envelope type {type_id!r}: {cls!r} is not a class")
        label = cls.__name__
        if type(type_id) is not int or not 1 <= type_id <= MAX_I64:
            raise ValueError(f"{label}: envelope type id {type_id!r} must be an int in [1, 2**63)")
        if type_id in ids:
            raise ValueError(
                f"duplicate envelope type id {type_id} ({ids[type_id].__name__} and {label})"
            )
        if cls in classes:
            raise ValueError(f"{label} is registered twice (type ids {classes[cls]} and {type_id})")
        ids[type_id] = cls
        classes[cls] = type_id
        names: list[str] = []
        kinds: list[str] = []
        try:
            pairs = [tuple(field) for field in fields]
        except TypeError:
            raise ValueError(f"{label}: envelope fields must be (name, kind) pairs") from None
        for pair in pairs:
            if len(pair) != 2:
                raise ValueError(f"{label}: envelope field {pair!r} is not a (name, kind) pair")
            name, kind = pair
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"{label}: envelope field name {name!r} is not an identifier")
            if name in names:
                raise ValueError(f"{label}.{name}: envelope field listed twice")
            if not isinstance(kind, str) or len(kind) != 1 or kind not in KINDS:
                raise ValueError(
                    f"{label}.{name}: unknown envelope field kind {kind!r} "
                    f"(expected one of {KINDS})"
                )
            names.append(name)
            kinds.append(kind)
        if dataclasses.is_dataclass(cls):
            dc_fields = dataclasses.fields(cls)
            expected = tuple(f.name for f in dc_fields)
            if tuple(names) != expected:
                raise ValueError(
                    f"{label}: envelope fields {tuple(names)} do not match the dataclass fields "
                    f"{expected} (same names, same order)"
                )
            for f in dc_fields:
                if not f.init:
                    raise ValueError(f"{label}.{f.name}: envelope fields must be __init__ fields")
        checked.append((type_id, cls, tuple(names), "".join(kinds)))
    return checked


# ------------------------------------------------------------------------- encoding errors


def not_registered(message: object) -> EnvelopeError:
    return EnvelopeError(f"cannot encode {type_name(message)}: not a registered envelope type")


def missing_attribute(where: str) -> EnvelopeError:
    return EnvelopeError(f"cannot encode {where}: attribute is missing")


def expected(where: str, what: str, value: object) -> EnvelopeError:
    """A field holding a value of the wrong type; `what` is the type the kind needs."""
    return EnvelopeError(f"cannot encode {where}: expected {what}, got {type_name(value)}")


def must_be_str(where: str, what: str, value: object) -> EnvelopeError:
    """A tag, a meta key or a list item that is not a str; `what` says which."""
    return EnvelopeError(f"cannot encode {where}: {what} must be str, got {type_name(value)}")


def meta_value(where: str, key: str, value: object) -> EnvelopeError:
    return EnvelopeError(f"cannot encode {where}[{key!r}]: expected bytes, got {type_name(value)}")


def out_of_range(where: str, value: int) -> EnvelopeError:
    return EnvelopeError(f"cannot encode {where}: {int(value)} is out of the signed 64-bit range")


def float_overflow(where: str, value: object) -> EnvelopeError:
    return EnvelopeError(f"cannot encode {where}: {value} is too large for a float")


def nested_not_registered(where: str, value: object) -> EnvelopeError:
    return EnvelopeError(
        f"cannot encode {where}: {type_name(value)} is not a registered envelope type"
    )


def nested_too_deep(where: str) -> EnvelopeError:
    return EnvelopeError(f"cannot encode {where}: messages nested deeper than {MAX_DEPTH}")


def not_utf8(where: str, value: str) -> EnvelopeError:
    """A str that UTF-8 cannot encode (a lone surrogate), with the codec's reason."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return EnvelopeError(f"cannot encode {where}: str is not encodable as UTF-8 ({exc.reason})")
    return EnvelopeError(f"cannot encode {where}: str is not encodable as UTF-8")


# ------------------------------------------------------------------------- decoding errors


def not_bytes(data: object) -> EnvelopeError:
    return EnvelopeError(
        f"cannot decode {type_name(data)}: expected bytes, bytearray or memoryview"
    )


def released() -> EnvelopeError:
    return EnvelopeError("cannot decode a released memoryview")


def too_large(size: int, limit: int) -> EnvelopeError:
    return EnvelopeError(f"envelope too large: {size} bytes (limit {limit})")


def bad_magic(first_two: bytes) -> EnvelopeError:
    return EnvelopeError(f"not an infinitic envelope (bad magic {first_two!r})")


def bad_version(version: int) -> EnvelopeError:
    return EnvelopeError(
        f"unsupported envelope format version {version} (this release reads {FORMAT_VERSION})"
    )


def truncated(where: str, need: int, left: int) -> EnvelopeError:
    unit = "byte" if need == 1 else "bytes"
    return EnvelopeError(f"envelope truncated: {where} needs {need} {unit}, {left} left")


def count_error(where: str, count: int, need: int, left: int) -> EnvelopeError:
    return EnvelopeError(
        f"envelope truncated: {where} count {count} needs at least {need} bytes, {left} left"
    )


def varint_cut(where: str) -> EnvelopeError:
    return EnvelopeError(f"envelope truncated: {where} ends inside a varint")


def varint_too_long(where: str) -> EnvelopeError:
    return EnvelopeError(f"varint longer than 10 bytes in {where}")


def varint_overflow(where: str) -> EnvelopeError:
    return EnvelopeError(f"varint overflows 64 bits in {where}")


def unknown_type(type_id: int, where: str | None = None) -> EnvelopeError:
    place = "" if where is None else f" in {where}"
    return EnvelopeError(f"unknown envelope type id {type_id}{place}")


def decode_too_deep(where: str) -> EnvelopeError:
    return EnvelopeError(f"envelope nested deeper than {MAX_DEPTH} at {where}")


def bad_presence(flag: int, where: str) -> EnvelopeError:
    return EnvelopeError(f"invalid presence byte {flag} in {where} (expected 0 or 1)")


def invalid_utf8(where: str, raw: bytes, start: int) -> EnvelopeError:
    """`raw`, read at envelope byte `start`, is not UTF-8: names the first bad byte."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return EnvelopeError(
            f"invalid UTF-8 in {where} at envelope byte {start + exc.start}: {exc.reason}"
        )
    return EnvelopeError(f"invalid UTF-8 in {where}")


def trailing(extra: int, label: str) -> EnvelopeError:
    return EnvelopeError(f"trailing bytes after the envelope: {extra} after {label}")


def cannot_build(label: str, exc: Exception) -> EnvelopeError:
    """A registered class's constructor refused the decoded values (raise it `from exc`)."""
    return EnvelopeError(f"cannot build {label} from the envelope: {exc}")
