"""Message envelopes: a versioned binary encoding of registered message classes.

Pure-Python twin of `_envelope_c` (same names, signatures, errors and output bytes) and the
type source for tools. Only the hot loops are twinned: the constants, the type table's check
and the error messages are in `_envelope_shared`, used by both. The format is specified in
docs/envelope.md:

    b"IN" | format version (1 byte) | type id (varint) | fields in wire order

Field kinds: `s` str, `S` optional str, `b` bytes, `i` signed 64-bit int, `f` float,
`t` frozenset[str], `m` dict[str, bytes], `n` optional nested registered message,
`L` list[str], `N` list of nested registered messages (of any registered types).
Every failure is an `EnvelopeError` naming what was wrong and where (type and field).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from . import _envelope_shared as _e
from ._envelope_shared import (
    DEFAULT_MAX_SIZE,
    FORMAT_VERSION,
    KINDS,
    MAGIC,
    MAX_DEPTH,
)
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

_MIN_I64 = _e.MIN_I64
_MAX_I64 = _e.MAX_I64
_MAX_U64 = _e.MAX_U64
_pack_double = struct.Struct("<d").pack
_unpack_double = struct.Struct("<d").unpack_from

# kind codes, indexes into KINDS
_STR, _OPT_STR, _BYTES, _INT, _FLOAT, _TAGS, _META, _NESTED, _STR_LIST, _NESTED_LIST = range(10)


def _read_varint(data: bytes, pos: int, end: int, where: str) -> tuple[int, int]:
    """Reads an unsigned LEB128 varint of at most 10 bytes that fits in 64 bits."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise _e.varint_cut(where)
        byte = data[pos]
        pos += 1
        if shift == 63:
            if byte & 0x80:
                raise _e.varint_too_long(where)
            if byte > 1:
                raise _e.varint_overflow(where)
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _as_bytes(value: object) -> bytes | None:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return None


class _Type:
    __slots__ = ("type_id", "cls", "label", "names", "kinds", "wheres", "header", "id_bytes")

    def __init__(self, type_id: int, cls: type, names: tuple[str, ...], kinds: str) -> None:
        self.type_id = type_id
        self.cls = cls
        self.label = cls.__name__
        self.names = names
        self.kinds = tuple(KINDS.index(kind) for kind in kinds)
        self.wheres = _e.field_wheres(cls, names)
        self.id_bytes = _e.varint_bytes(type_id)
        self.header = _e.HEADER + self.id_bytes


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
        for type_id, cls, names, kinds in _e.validate_types(types, max_size):
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
            raise _e.not_registered(message)
        out = bytearray(info.header)
        self._write(out, message, info, 0)
        return bytes(out)

    def _write(self, out: bytearray, obj: object, info: _Type, depth: int) -> None:
        for kind, name, where in zip(info.kinds, info.names, info.wheres, strict=True):
            try:
                value: Any = getattr(obj, name)
            except AttributeError:
                raise _e.missing_attribute(where) from None
            if kind == _STR or kind == _OPT_STR:
                if kind == _OPT_STR:
                    if value is None:
                        out.append(0)
                        continue
                    out.append(1)
                if not isinstance(value, str):
                    raise _e.expected(where, "str or None" if kind == _OPT_STR else "str", value)
                self._write_str(out, value, where)
            elif kind == _BYTES:
                raw = _as_bytes(value)
                if raw is None:
                    raise _e.expected(where, "bytes", value)
                _write_varint(out, len(raw))
                out += raw
            elif kind == _INT:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise _e.expected(where, "int", value)
                number = int(value)
                if not _MIN_I64 <= number <= _MAX_I64:
                    raise _e.out_of_range(where, number)
                _write_varint(out, ((number << 1) ^ (number >> 63)) & _MAX_U64)
            elif kind == _FLOAT:
                if not isinstance(value, (float, int)) or isinstance(value, bool):
                    raise _e.expected(where, "float", value)
                try:
                    out += _pack_double(float(value))
                except OverflowError:
                    raise _e.float_overflow(where, value) from None
            elif kind == _TAGS:
                if not isinstance(value, (frozenset, set)):
                    raise _e.expected(where, "frozenset[str]", value)
                for tag in value:
                    if not isinstance(tag, str):
                        raise _e.must_be_str(where, "tags", tag)
                _write_varint(out, len(value))
                for tag in sorted(value):
                    self._write_str(out, tag, where)
            elif kind == _META:
                if not isinstance(value, dict):
                    raise _e.expected(where, "dict[str, bytes]", value)
                _write_varint(out, len(value))
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise _e.must_be_str(where, "keys", key)
                    raw = _as_bytes(item)
                    if raw is None:
                        raise _e.meta_value(where, key, item)
                    self._write_str(out, key, where)
                    _write_varint(out, len(raw))
                    out += raw
            elif kind == _STR_LIST:
                if not isinstance(value, (list, tuple)):
                    raise _e.expected(where, "list[str]", value)
                _write_varint(out, len(value))
                for item in value:
                    if not isinstance(item, str):
                        raise _e.must_be_str(where, "items", item)
                    self._write_str(out, item, where)
            elif kind == _NESTED_LIST:
                if not isinstance(value, (list, tuple)):
                    raise _e.expected(where, "a list of messages", value)
                if depth >= MAX_DEPTH:
                    raise _e.nested_too_deep(where)
                _write_varint(out, len(value))
                for item in value:
                    nested = self._by_class.get(type(item))
                    if nested is None:
                        raise _e.nested_not_registered(where, item)
                    out += nested.id_bytes
                    self._write(out, item, nested, depth + 1)
            else:  # _NESTED
                if value is None:
                    out.append(0)
                    continue
                nested = self._by_class.get(type(value))
                if nested is None:
                    raise _e.nested_not_registered(where, value)
                if depth >= MAX_DEPTH:
                    raise _e.nested_too_deep(where)
                out += nested.id_bytes
                self._write(out, value, nested, depth + 1)

    @staticmethod
    def _write_str(out: bytearray, value: str, where: str) -> None:
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            raise _e.not_utf8(where, value) from None
        _write_varint(out, len(raw))
        out += raw

    def decode(self, data: bytes | bytearray | memoryview) -> object:
        """The message whose envelope bytes are `data`; EnvelopeError if they are not valid."""
        if type(data) is not bytes:
            if isinstance(data, memoryview):
                try:
                    size = data.nbytes
                except ValueError:  # released: there are no bytes to read
                    raise _e.released() from None
                if size > self._max_size:
                    raise _e.too_large(size, self._max_size)
                data = data.tobytes()
            elif isinstance(data, (bytes, bytearray)):
                data = bytes(data)
            else:
                raise _e.not_bytes(data)
        end = len(data)
        if end > self._max_size:
            raise _e.too_large(end, self._max_size)
        if end >= 2 and data[:2] != MAGIC:
            raise _e.bad_magic(data[:2])
        if end < 3:
            raise _e.truncated("the header", 3, end)
        version = data[2]
        if version != FORMAT_VERSION:
            raise _e.bad_version(version)
        type_id, pos = _read_varint(data, 3, end, "the type id")
        info = self._by_id.get(type_id)
        if info is None:
            raise _e.unknown_type(type_id)
        message, pos = self._read(data, pos, end, info, 0)
        if pos != end:
            raise _e.trailing(end - pos, info.label)
        return message

    def _read(self, data: bytes, pos: int, end: int, info: _Type, depth: int) -> tuple[Any, int]:
        values: list[Any] = []
        append = values.append
        for kind, where in zip(info.kinds, info.wheres, strict=True):
            if kind == _STR or kind == _OPT_STR:
                if kind == _OPT_STR:
                    if pos >= end:
                        raise _e.truncated(where, 1, 0)
                    flag = data[pos]
                    pos += 1
                    if flag == 0:
                        append(None)
                        continue
                    if flag != 1:
                        raise _e.bad_presence(flag, where)
                text, pos = _read_str(data, pos, end, where)
                append(text)
            elif kind == _BYTES:
                size, pos = _read_varint(data, pos, end, where)
                if size > end - pos:
                    raise _e.truncated(where, size, end - pos)
                append(data[pos : pos + size])
                pos += size
            elif kind == _INT:
                raw, pos = _read_varint(data, pos, end, where)
                append((raw >> 1) ^ -(raw & 1))
            elif kind == _FLOAT:
                if end - pos < 8:
                    raise _e.truncated(where, 8, end - pos)
                append(_unpack_double(data, pos)[0])
                pos += 8
            elif kind == _TAGS:
                count, pos = _read_varint(data, pos, end, where)
                if count > end - pos:
                    raise _e.count_error(where, count, count, end - pos)
                tags = []
                for _ in range(count):
                    tag, pos = _read_str(data, pos, end, where)
                    tags.append(tag)
                append(frozenset(tags))
            elif kind == _META:
                count, pos = _read_varint(data, pos, end, where)
                if count * 2 > end - pos:
                    raise _e.count_error(where, count, count * 2, end - pos)
                meta: dict[str, bytes] = {}
                for _ in range(count):
                    key, pos = _read_str(data, pos, end, where)
                    size, pos = _read_varint(data, pos, end, where)
                    if size > end - pos:
                        raise _e.truncated(where, size, end - pos)
                    meta[key] = data[pos : pos + size]
                    pos += size
                append(meta)
            elif kind == _STR_LIST:
                count, pos = _read_varint(data, pos, end, where)
                if count > end - pos:
                    raise _e.count_error(where, count, count, end - pos)
                items = []
                for _ in range(count):
                    item, pos = _read_str(data, pos, end, where)
                    items.append(item)
                append(items)
            elif kind == _NESTED_LIST:
                count, pos = _read_varint(data, pos, end, where)
                if count > end - pos:
                    raise _e.count_error(where, count, count, end - pos)
                if depth >= MAX_DEPTH:
                    raise _e.decode_too_deep(where)
                messages = []
                for _ in range(count):
                    type_id, pos = _read_varint(data, pos, end, where)
                    nested = self._by_id.get(type_id)
                    if nested is None:
                        raise _e.unknown_type(type_id, where)
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
                    raise _e.unknown_type(type_id, where)
                if depth >= MAX_DEPTH:
                    raise _e.decode_too_deep(where)
                value, pos = self._read(data, pos, end, nested, depth + 1)
                append(value)
        try:
            return info.cls(*values), pos
        except Exception as exc:
            raise _e.cannot_build(info.label, exc) from exc


def _read_str(data: bytes, pos: int, end: int, where: str) -> tuple[str, int]:
    size, pos = _read_varint(data, pos, end, where)
    if size > end - pos:
        raise _e.truncated(where, size, end - pos)
    try:
        text = data[pos : pos + size].decode("utf-8")
    except UnicodeDecodeError:
        raise _e.invalid_utf8(where, data[pos : pos + size], pos) from None
    return text, pos + size


def _write_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
