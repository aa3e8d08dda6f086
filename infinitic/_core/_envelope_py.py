"""Message envelopes: a versioned binary encoding of registered message classes.

Pure-Python twin of `_envelope_c` (same names, signatures, errors and output bytes) and the
type source for tools. The format is specified in docs/envelope.md:

    b"IN" | format version (1 byte) | type id (varint) | fields in wire order

Field kinds: `s` str, `S` optional str, `b` bytes, `i` signed 64-bit int, `f` float,
`t` frozenset[str], `m` dict[str, bytes], `n` optional nested registered message,
`L` list[str], `N` list of nested registered messages (of any registered types).
Every failure is an `EnvelopeError` naming what was wrong and where (type and field).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence
from typing import Any

from ._errors import EnvelopeError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "FORMAT_VERSION",
    "KINDS",
    "MAGIC",
    "MAX_DEPTH",
    "Codec",
    "EnvelopeError",
]

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

_HEADER = MAGIC + bytes([FORMAT_VERSION])
_MIN_I64 = -(1 << 63)
_MAX_I64 = (1 << 63) - 1
_MAX_U64 = (1 << 64) - 1
_pack_double = struct.Struct("<d").pack
_unpack_double = struct.Struct("<d").unpack_from

# kind codes, indexes into KINDS
_STR, _OPT_STR, _BYTES, _INT, _FLOAT, _TAGS, _META, _NESTED, _STR_LIST, _NESTED_LIST = range(10)


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _truncated(where: str, need: int, left: int) -> EnvelopeError:
    unit = "byte" if need == 1 else "bytes"
    return EnvelopeError(f"envelope truncated: {where} needs {need} {unit}, {left} left")


def _count_error(where: str, count: int, need: int, left: int) -> EnvelopeError:
    return EnvelopeError(
        f"envelope truncated: {where} count {count} needs at least {need} bytes, {left} left"
    )


def _read_varint(data: bytes, pos: int, end: int, where: str) -> tuple[int, int]:
    """Reads an unsigned LEB128 varint of at most 10 bytes that fits in 64 bits."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise EnvelopeError(f"envelope truncated: {where} ends inside a varint")
        byte = data[pos]
        pos += 1
        if shift == 63:
            if byte & 0x80:
                raise EnvelopeError(f"varint longer than 10 bytes in {where}")
            if byte > 1:
                raise EnvelopeError(f"varint overflows 64 bits in {where}")
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _type_name(value: object) -> str:
    return type(value).__name__


def _as_bytes(value: object) -> bytes | None:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return None


def _validate_types(
    types: Sequence[tuple[int, type, Sequence[tuple[str, str]]]], max_size: int
) -> list[tuple[int, type, tuple[str, ...], str]]:
    """Checks a codec's type table; raises ValueError naming the faulty entry."""
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
        if type(type_id) is not int or not 1 <= type_id <= _MAX_I64:
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


class _Type:
    __slots__ = ("type_id", "cls", "label", "names", "kinds", "wheres", "header", "id_bytes")

    def __init__(self, type_id: int, cls: type, names: tuple[str, ...], kinds: str) -> None:
        self.type_id = type_id
        self.cls = cls
        self.label = cls.__name__
        self.names = names
        self.kinds = tuple(KINDS.index(kind) for kind in kinds)
        self.wheres = tuple(f"{self.label}.{name}" for name in names)
        self.id_bytes = _varint_bytes(type_id)
        self.header = _HEADER + self.id_bytes


class Codec:
    """Encodes registered message objects to envelope bytes and decodes them back.

    `types` lists (type id >= 1, class, fields in wire order as (attribute name, kind)).
    Decoding builds each object with `cls(*values)`, so for a dataclass the fields must be
    its fields, in order. Invalid tables raise ValueError; invalid messages or bytes raise
    EnvelopeError.
    """

    __slots__ = ("_by_class", "_by_id", "_max_size")

    def __init__(
        self,
        types: Sequence[tuple[int, type, Sequence[tuple[str, str]]]],
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self._by_id: dict[int, _Type] = {}
        self._by_class: dict[type, _Type] = {}
        for type_id, cls, names, kinds in _validate_types(types, max_size):
            info = _Type(type_id, cls, names, kinds)
            self._by_id[type_id] = info
            self._by_class[cls] = info
        self._max_size = max_size

    @property
    def max_size(self) -> int:
        """The longest envelope, in bytes, that `decode` accepts."""
        return self._max_size

    def encode(self, message: object) -> bytes:
        """The envelope bytes of `message`, an instance of a registered class."""
        info = self._by_class.get(type(message))
        if info is None:
            raise EnvelopeError(
                f"cannot encode {_type_name(message)}: not a registered envelope type"
            )
        out = bytearray(info.header)
        self._write(out, message, info, 0)
        return bytes(out)

    def _write(self, out: bytearray, obj: object, info: _Type, depth: int) -> None:
        for kind, name, where in zip(info.kinds, info.names, info.wheres, strict=True):
            try:
                value: Any = getattr(obj, name)
            except AttributeError:
                raise EnvelopeError(f"cannot encode {where}: attribute is missing") from None
            if kind == _STR or kind == _OPT_STR:
                if kind == _OPT_STR:
                    if value is None:
                        out.append(0)
                        continue
                    out.append(1)
                if not isinstance(value, str):
                    expected = "str or None" if kind == _OPT_STR else "str"
                    raise EnvelopeError(
                        f"cannot encode {where}: expected {expected}, got {_type_name(value)}"
                    )
                self._write_str(out, value, where)
            elif kind == _BYTES:
                raw = _as_bytes(value)
                if raw is None:
                    raise EnvelopeError(
                        f"cannot encode {where}: expected bytes, got {_type_name(value)}"
                    )
                _write_varint(out, len(raw))
                out += raw
            elif kind == _INT:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise EnvelopeError(
                        f"cannot encode {where}: expected int, got {_type_name(value)}"
                    )
                number = int(value)
                if not _MIN_I64 <= number <= _MAX_I64:
                    raise EnvelopeError(
                        f"cannot encode {where}: {number} is out of the signed 64-bit range"
                    )
                _write_varint(out, ((number << 1) ^ (number >> 63)) & _MAX_U64)
            elif kind == _FLOAT:
                if not isinstance(value, (float, int)) or isinstance(value, bool):
                    raise EnvelopeError(
                        f"cannot encode {where}: expected float, got {_type_name(value)}"
                    )
                try:
                    out += _pack_double(float(value))
                except OverflowError:
                    raise EnvelopeError(
                        f"cannot encode {where}: {value} is too large for a float"
                    ) from None
            elif kind == _TAGS:
                if not isinstance(value, (frozenset, set)):
                    raise EnvelopeError(
                        f"cannot encode {where}: expected frozenset[str], got {_type_name(value)}"
                    )
                for tag in value:
                    if not isinstance(tag, str):
                        raise EnvelopeError(
                            f"cannot encode {where}: tags must be str, got {_type_name(tag)}"
                        )
                _write_varint(out, len(value))
                for tag in sorted(value):
                    self._write_str(out, tag, where)
            elif kind == _META:
                if not isinstance(value, dict):
                    raise EnvelopeError(
                        f"cannot encode {where}: expected dict[str, bytes], got {_type_name(value)}"
                    )
                _write_varint(out, len(value))
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise EnvelopeError(
                            f"cannot encode {where}: keys must be str, got {_type_name(key)}"
                        )
                    raw = _as_bytes(item)
                    if raw is None:
                        raise EnvelopeError(
                            f"cannot encode {where}[{key!r}]: expected bytes, "
                            f"got {_type_name(item)}"
                        )
                    self._write_str(out, key, where)
                    _write_varint(out, len(raw))
                    out += raw
            elif kind == _STR_LIST:
                if not isinstance(value, (list, tuple)):
                    raise EnvelopeError(
                        f"cannot encode {where}: expected list[str], got {_type_name(value)}"
                    )
                _write_varint(out, len(value))
                for item in value:
                    if not isinstance(item, str):
                        raise EnvelopeError(
                            f"cannot encode {where}: items must be str, got {_type_name(item)}"
                        )
                    self._write_str(out, item, where)
            elif kind == _NESTED_LIST:
                if not isinstance(value, (list, tuple)):
                    raise EnvelopeError(
                        f"cannot encode {where}: expected a list of messages, got {_type_name(value)}"
                    )
                if depth >= MAX_DEPTH:
                    raise EnvelopeError(
                        f"cannot encode {where}: messages nested deeper than {MAX_DEPTH}"
                    )
                _write_varint(out, len(value))
                for item in value:
                    nested = self._by_class.get(type(item))
                    if nested is None:
                        raise EnvelopeError(
                            f"cannot encode {where}: {_type_name(item)} is not a registered "
                            "envelope type"
                        )
                    out += nested.id_bytes
                    self._write(out, item, nested, depth + 1)
            else:  # _NESTED
                if value is None:
                    out.append(0)
                    continue
                nested = self._by_class.get(type(value))
                if nested is None:
                    raise EnvelopeError(
                        f"cannot encode {where}: {_type_name(value)} is not a registered "
                        "envelope type"
                    )
                if depth >= MAX_DEPTH:
                    raise EnvelopeError(
                        f"cannot encode {where}: messages nested deeper than {MAX_DEPTH}"
                    )
                out += nested.id_bytes
                self._write(out, value, nested, depth + 1)

    @staticmethod
    def _write_str(out: bytearray, value: str, where: str) -> None:
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise EnvelopeError(
                f"cannot encode {where}: str is not encodable as UTF-8 ({exc.reason})"
            ) from None
        _write_varint(out, len(raw))
        out += raw

    def decode(self, data: bytes | bytearray | memoryview) -> object:
        """The message whose envelope bytes are `data`; EnvelopeError if they are not valid."""
        if type(data) is not bytes:
            if isinstance(data, memoryview):
                try:
                    size = data.nbytes
                except ValueError:  # released: there are no bytes to read
                    raise EnvelopeError("cannot decode a released memoryview") from None
                if size > self._max_size:
                    raise EnvelopeError(
                        f"envelope too large: {size} bytes (limit {self._max_size})"
                    )
                data = data.tobytes()
            elif isinstance(data, (bytes, bytearray)):
                data = bytes(data)
            else:
                raise EnvelopeError(
                    f"cannot decode {_type_name(data)}: expected bytes, bytearray or memoryview"
                )
        end = len(data)
        if end > self._max_size:
            raise EnvelopeError(f"envelope too large: {end} bytes (limit {self._max_size})")
        if end >= 2 and data[:2] != MAGIC:
            raise EnvelopeError(f"not an infinitic envelope (bad magic {data[:2]!r})")
        if end < 3:
            raise _truncated("the header", 3, end)
        version = data[2]
        if version != FORMAT_VERSION:
            raise EnvelopeError(
                f"unsupported envelope format version {version} "
                f"(this release reads {FORMAT_VERSION})"
            )
        type_id, pos = _read_varint(data, 3, end, "the type id")
        info = self._by_id.get(type_id)
        if info is None:
            raise EnvelopeError(f"unknown envelope type id {type_id}")
        message, pos = self._read(data, pos, end, info, 0)
        if pos != end:
            raise EnvelopeError(
                f"trailing bytes after the envelope: {end - pos} after {info.label}"
            )
        return message

    def _read(self, data: bytes, pos: int, end: int, info: _Type, depth: int) -> tuple[Any, int]:
        values: list[Any] = []
        append = values.append
        for kind, where in zip(info.kinds, info.wheres, strict=True):
            if kind == _STR or kind == _OPT_STR:
                if kind == _OPT_STR:
                    if pos >= end:
                        raise _truncated(where, 1, 0)
                    flag = data[pos]
                    pos += 1
                    if flag == 0:
                        append(None)
                        continue
                    if flag != 1:
                        raise EnvelopeError(
                            f"invalid presence byte {flag} in {where} (expected 0 or 1)"
                        )
                text, pos = _read_str(data, pos, end, where)
                append(text)
            elif kind == _BYTES:
                size, pos = _read_varint(data, pos, end, where)
                if size > end - pos:
                    raise _truncated(where, size, end - pos)
                append(data[pos : pos + size])
                pos += size
            elif kind == _INT:
                raw, pos = _read_varint(data, pos, end, where)
                append((raw >> 1) ^ -(raw & 1))
            elif kind == _FLOAT:
                if end - pos < 8:
                    raise _truncated(where, 8, end - pos)
                append(_unpack_double(data, pos)[0])
                pos += 8
            elif kind == _TAGS:
                count, pos = _read_varint(data, pos, end, where)
                if count > end - pos:
                    raise _count_error(where, count, count, end - pos)
                tags = []
                for _ in range(count):
                    tag, pos = _read_str(data, pos, end, where)
                    tags.append(tag)
                append(frozenset(tags))
            elif kind == _META:
                count, pos = _read_varint(data, pos, end, where)
                if count * 2 > end - pos:
                    raise _count_error(where, count, count * 2, end - pos)
                meta: dict[str, bytes] = {}
                for _ in range(count):
                    key, pos = _read_str(data, pos, end, where)
                    size, pos = _read_varint(data, pos, end, where)
                    if size > end - pos:
                        raise _truncated(where, size, end - pos)
                    meta[key] = data[pos : pos + size]
                    pos += size
                append(meta)
            elif kind == _STR_LIST:
                count, pos = _read_varint(data, pos, end, where)
                if count > end - pos:
                    raise _count_error(where, count, count, end - pos)
                items = []
                for _ in range(count):
                    item, pos = _read_str(data, pos, end, where)
                    items.append(item)
                append(items)
            elif kind == _NESTED_LIST:
                count, pos = _read_varint(data, pos, end, where)
                if count > end - pos:
                    raise _count_error(where, count, count, end - pos)
                if depth >= MAX_DEPTH:
                    raise EnvelopeError(f"envelope nested deeper than {MAX_DEPTH} at {where}")
                messages = []
                for _ in range(count):
                    type_id, pos = _read_varint(data, pos, end, where)
                    nested = self._by_id.get(type_id)
                    if nested is None:
                        raise EnvelopeError(f"unknown envelope type id {type_id} in {where}")
                    item, pos = self._read(data, pos, end, nested, depth + 1)
                    messages.append(item)
                append(messages)
            else:  # _NESTED
                type_id, pos = _read_varint(data, pos, end, where)
                if type_id == 0:
                    append(None)
                    continue
                nested = self._by_id.get(type_id)
                if nested is None:
                    raise EnvelopeError(f"unknown envelope type id {type_id} in {where}")
                if depth >= MAX_DEPTH:
                    raise EnvelopeError(f"envelope nested deeper than {MAX_DEPTH} at {where}")
                value, pos = self._read(data, pos, end, nested, depth + 1)
                append(value)
        try:
            return info.cls(*values), pos
        except Exception as exc:
            raise EnvelopeError(f"cannot build {info.label} from the envelope: {exc}") from exc


def _read_str(data: bytes, pos: int, end: int, where: str) -> tuple[str, int]:
    size, pos = _read_varint(data, pos, end, where)
    if size > end - pos:
        raise _truncated(where, size, end - pos)
    try:
        text = data[pos : pos + size].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(
            f"invalid UTF-8 in {where} at envelope byte {pos + exc.start}: {exc.reason}"
        ) from None
    return text, pos + size


def _write_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
