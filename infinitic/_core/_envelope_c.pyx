# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Message envelopes: a versioned binary encoding of registered message classes.

Compiled implementation; `_envelope_py` is its pure-Python twin and the type source (same
names, signatures, errors and output bytes). The format is specified in docs/envelope.md:

    b"IN" | format version (1 byte) | type id (varint) | fields in wire order

Field kinds: `s` str, `S` optional str, `b` bytes, `i` signed 64-bit int, `f` float,
`t` frozenset[str], `m` dict[str, bytes], `n` optional nested registered message,
`L` list[str], `N` list of nested registered messages (of any registered types).
Every failure is an `EnvelopeError` naming what was wrong and where (type and field).
"""

# _envelope_py.py is the reference for the hot loops: keep them and the bytes in step with it
# (tests/core/test_envelope.py compares the two). Everything cold (constants, the type table's
# check, every error message) is in _envelope_shared.py, used by both.

import types as _types

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.dict cimport PyDict_GetItem, PyDict_Next, PyDict_SetItem
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from . import _envelope_shared as _e
from ._envelope_shared import (
    DEFAULT_MAX_SIZE,
    FORMAT_VERSION,
    KINDS,
    MAGIC,
    MAX_DEPTH,
)
from ._errors import EnvelopeError


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size)  # NULL: error set
    PyObject* PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)
    void PyErr_Clear()
    bint PyUnicode_Check(object o)
    bint PyLong_Check(object o)
    bint PyBool_Check(object o)
    bint PyFloat_Check(object o)
    bint PyAnySet_Check(object o)
    bint PyDict_Check(object o)
    bint PyList_Check(object o)
    bint PyTuple_Check(object o)
    double PyFloat_AS_DOUBLE(object o)
    double PyFloat_AsDouble(object o) except? -1.0
    long long PyLong_AsLongLongAndOverflow(object o, int* overflow) except? -1
    object PyFrozenSet_New(PyObject* iterable)
    int PySet_Add(object s, object key) except -1
    object PyLong_FromLongLong(long long v)
    object PyLong_FromUnsignedLongLong(unsigned long long v)
    object PyFloat_FromDouble(double v)

    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
        int flags

    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member


__all__ = [
    "DEFAULT_MAX_SIZE",
    "FORMAT_VERSION",
    "KINDS",
    "MAGIC",
    "MAX_DEPTH",
    "Codec",
    "EnvelopeError",
]

cdef enum:
    _STR = 0
    _OPT_STR = 1
    _BYTES = 2
    _INT = 3
    _FLOAT = 4
    _TAGS = 5
    _META = 6
    _NESTED = 7
    _STR_LIST = 8
    _NESTED_LIST = 9
    _C_MAX_DEPTH = 32
    _C_VERSION = 1
    _T_OBJECT_EX = 16  # structmember.h, stable since Python 2
    _ID_TABLE = 256  # type ids below this are looked up in an array
    _STACK = 512  # bytes encoded on the stack before moving to the heap

_EMPTY_TAGS = frozenset()

if MAX_DEPTH != _C_MAX_DEPTH or FORMAT_VERSION != _C_VERSION:  # compiled in: must match
    raise ImportError("_envelope_c was compiled for another MAX_DEPTH or FORMAT_VERSION")


def _slot_descriptor(cls, name):
    """The `__slots__` member descriptor that instance lookups of `name` resolve to, or None.

    Reading such a slot straight from the object is what `getattr` would do, as long as the
    class keeps the default `__getattribute__` (checked by the caller).
    """
    for base in cls.__mro__:
        if name in base.__dict__:
            descr = base.__dict__[name]
            if type(descr) is _types.MemberDescriptorType and issubclass(
                cls, descr.__objclass__
            ):
                return descr
            return None
    return None


cdef class _Type:
    cdef readonly object cls
    cdef readonly str label
    cdef readonly tuple names
    cdef readonly tuple wheres
    cdef readonly bytes header
    cdef readonly bytes id_bytes
    cdef uint64_t type_id
    cdef Py_ssize_t nfields
    cdef unsigned char* kinds
    cdef Py_ssize_t* offsets  # slot offset of each field, or -1 to use getattr

    def __cinit__(self):
        self.kinds = NULL
        self.offsets = NULL

    def __dealloc__(self):
        PyMem_Free(self.kinds)
        PyMem_Free(self.offsets)

    cdef int setup(self, object type_id, object cls, tuple names, str kinds) except -1:
        cdef Py_ssize_t i
        cdef PyMemberDef* member
        self.type_id = type_id
        self.cls = cls
        self.label = cls.__name__
        self.names = names
        self.nfields = len(names)
        self.wheres = _e.field_wheres(cls, names)
        self.id_bytes = _e.varint_bytes(type_id)
        self.header = _e.HEADER + self.id_bytes
        self.kinds = <unsigned char*>PyMem_Malloc(max(self.nfields, 1))
        self.offsets = <Py_ssize_t*>PyMem_Malloc(max(self.nfields, 1) * sizeof(Py_ssize_t))
        if self.kinds == NULL or self.offsets == NULL:
            raise MemoryError()
        generic = cls.__getattribute__ is object.__getattribute__
        for i in range(self.nfields):
            self.kinds[i] = KINDS.index(kinds[i])
            self.offsets[i] = -1
            if generic:
                descr = _slot_descriptor(cls, names[i])
                if descr is not None:
                    member = (<PyMemberDescrObject*>descr).d_member
                    if member.type == _T_OBJECT_EX and member.offset > 0:
                        self.offsets[i] = member.offset
        return 0


# ---------------------------------------------------------------------------------- writing


cdef struct _Writer:
    char* buf
    Py_ssize_t size
    Py_ssize_t cap
    bint heap


cdef int _grow(_Writer* w, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap = w.cap * 2
    cdef char* buf
    while cap < w.size + need:
        cap *= 2
    if w.heap:
        buf = <char*>PyMem_Realloc(w.buf, cap)
    else:
        buf = <char*>PyMem_Malloc(cap)
        if buf != NULL:
            memcpy(buf, w.buf, w.size)
    if buf == NULL:
        raise MemoryError()
    w.buf = buf
    w.cap = cap
    w.heap = True
    return 0


cdef inline int _put_raw(_Writer* w, const char* data, Py_ssize_t n) except -1:
    if w.size + n > w.cap:
        _grow(w, n)
    memcpy(w.buf + w.size, data, n)
    w.size += n
    return 0


cdef inline int _put_byte(_Writer* w, unsigned char b) except -1:
    if w.size + 1 > w.cap:
        _grow(w, 1)
    w.buf[w.size] = <char>b
    w.size += 1
    return 0


cdef inline int _put_varint(_Writer* w, uint64_t v) except -1:
    cdef unsigned char* p
    if w.size + 10 > w.cap:
        _grow(w, 10)
    p = <unsigned char*>w.buf + w.size
    while v >= 0x80:
        p[0] = <unsigned char>((v & 0x7F) | 0x80)
        p += 1
        v >>= 7
    p[0] = <unsigned char>v
    w.size = (<char*>p - w.buf) + 1
    return 0


cdef int _str_error(object value, _Type info, Py_ssize_t i) except -1:
    PyErr_Clear()
    raise _e.not_utf8(info.wheres[i], value)


cdef int _put_str(_Writer* w, object value, _Type info, Py_ssize_t i) except -1:
    cdef Py_ssize_t n
    cdef const char* data = PyUnicode_AsUTF8AndSize(value, &n)
    if data == NULL:
        return _str_error(value, info, i)
    _put_varint(w, <uint64_t>n)
    _put_raw(w, data, n)
    return 0


cdef int _put_bytes(_Writer* w, object value) except -1:
    # value is exact bytes
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
    _put_varint(w, <uint64_t>n)
    _put_raw(w, PyBytes_AS_STRING(value), n)
    return 0


cdef inline object _as_bytes(object value):
    if PyBytes_CheckExact(value):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return None


cdef inline void _put_double(_Writer* w, double d) noexcept:
    cdef uint64_t bits
    cdef unsigned char* p = <unsigned char*>w.buf + w.size
    cdef int k
    memcpy(&bits, &d, 8)
    for k in range(8):
        p[k] = <unsigned char>(bits >> (8 * k))
    w.size += 8


# ---------------------------------------------------------------------------------- reading


cdef struct _Reader:
    const unsigned char* buf
    Py_ssize_t pos
    Py_ssize_t end


cdef str _where(_Type info, Py_ssize_t i):
    if info is None:
        return "the type id"
    return info.wheres[i]


cdef int _get_varint_slow(_Reader* r, uint64_t* out, _Type info, Py_ssize_t i) except -1:
    cdef uint64_t result = 0
    cdef uint64_t b
    cdef int shift = 0
    cdef Py_ssize_t pos = r.pos
    while True:
        if pos >= r.end:
            raise _e.varint_cut(_where(info, i))
        b = r.buf[pos]
        pos += 1
        if shift == 63:
            if b & 0x80:
                raise _e.varint_too_long(_where(info, i))
            if b > 1:
                raise _e.varint_overflow(_where(info, i))
        result |= (b & 0x7F) << shift
        if b < 0x80:
            out[0] = result
            r.pos = pos
            return 0
        shift += 7


cdef inline int _get_varint(_Reader* r, uint64_t* out, _Type info, Py_ssize_t i) except -1:
    cdef unsigned char b
    if r.pos < r.end:
        b = r.buf[r.pos]
        if b < 0x80:
            out[0] = b
            r.pos += 1
            return 0
    return _get_varint_slow(r, out, info, i)


cdef inline int _get_length(_Reader* r, Py_ssize_t* out, _Type info, Py_ssize_t i) except -1:
    """A varint length that must fit in the bytes left."""
    cdef uint64_t n
    cdef Py_ssize_t left
    _get_varint(r, &n, info, i)
    left = r.end - r.pos
    if n > <uint64_t>left:
        raise _e.truncated(info.wheres[i], PyLong_FromUnsignedLongLong(n), left)
    out[0] = <Py_ssize_t>n
    return 0


cdef inline object _steal(PyObject* new_reference):
    cdef object value = <object>new_reference
    Py_DECREF(value)
    return value


cdef int _utf8_error(const unsigned char* data, Py_ssize_t start, Py_ssize_t n, _Type info,
                     Py_ssize_t i) except -1:
    PyErr_Clear()
    raise _e.invalid_utf8(info.wheres[i], (<const char*>data)[start:start + n], start)


cdef object _get_str(_Reader* r, _Type info, Py_ssize_t i):
    cdef Py_ssize_t n
    cdef Py_ssize_t start
    cdef PyObject* text
    _get_length(r, &n, info, i)
    start = r.pos
    text = PyUnicode_DecodeUTF8(<const char*>r.buf + start, n, NULL)
    if text == NULL:
        _utf8_error(r.buf, start, n, info, i)
        return None
    r.pos = start + n
    return _steal(text)


cdef object _get_bytes(_Reader* r, _Type info, Py_ssize_t i):
    cdef Py_ssize_t n
    _get_length(r, &n, info, i)
    value = PyBytes_FromStringAndSize(<const char*>r.buf + r.pos, n)
    r.pos += n
    return value


cdef inline double _get_double(const unsigned char* p) noexcept:
    cdef uint64_t bits = 0
    cdef double d
    cdef int k
    for k in range(8):
        bits |= (<uint64_t>p[k]) << (8 * k)
    memcpy(&d, &bits, 8)
    return d


cdef class Codec:
    """Encodes registered message objects to envelope bytes and decodes them back.

    `types` lists (type id >= 1, class, fields in wire order as (attribute name, kind)).
    Decoding builds each object with `cls(*values)`, so for a dataclass the fields must be
    its fields, in order. Invalid tables raise ValueError; invalid messages or bytes raise
    EnvelopeError.
    """

    cdef dict _by_class
    cdef dict _by_id
    cdef list _id_table
    cdef Py_ssize_t _max_size
    cdef object _limit

    def __init__(self, types, max_size=DEFAULT_MAX_SIZE):
        cdef _Type info
        checked = _e.validate_types(types, max_size)
        self._by_class = {}
        self._by_id = {}
        self._id_table = [None] * _ID_TABLE
        for type_id, cls, names, kinds in checked:
            info = _Type()
            info.setup(type_id, cls, names, kinds)
            self._by_class[cls] = info
            self._by_id[type_id] = info
            if type_id < _ID_TABLE:
                self._id_table[type_id] = info
        self._limit = max_size
        self._max_size = min(max_size, 2 ** 62)

    @property
    def max_size(self):
        """The longest envelope, in bytes, that `decode` accepts."""
        return self._limit

    # ------------------------------------------------------------------------------ encode

    def encode(self, message):
        """The envelope bytes of `message`, an instance of a registered class."""
        cdef PyObject* found = PyDict_GetItem(self._by_class, type(message))
        cdef _Type info
        cdef char stack[_STACK]
        cdef _Writer w
        if found == NULL:
            raise _e.not_registered(message)
        info = <_Type>found
        w.buf = stack
        w.size = 0
        w.cap = _STACK
        w.heap = False
        try:
            _put_raw(&w, PyBytes_AS_STRING(info.header), PyBytes_GET_SIZE(info.header))
            self._write(&w, message, info, 0)
            return PyBytes_FromStringAndSize(w.buf, w.size)
        finally:
            if w.heap:
                PyMem_Free(w.buf)

    cdef int _write(self, _Writer* w, object obj, _Type info, int depth) except -1:
        cdef Py_ssize_t i
        cdef Py_ssize_t offset
        cdef PyObject* slot
        cdef unsigned char kind
        cdef long long number
        cdef int overflow = 0
        cdef double real
        cdef PyObject* found
        cdef _Type nested
        cdef object value
        for i in range(info.nfields):
            offset = info.offsets[i]
            if offset >= 0:
                slot = (<PyObject**>((<char*><PyObject*>obj) + offset))[0]
                if slot == NULL:
                    raise _e.missing_attribute(info.wheres[i])
                value = <object>slot
            else:
                try:
                    value = getattr(obj, info.names[i])
                except AttributeError:
                    raise _e.missing_attribute(info.wheres[i]) from None
            kind = info.kinds[i]
            if kind == _STR or kind == _OPT_STR:
                if kind == _OPT_STR:
                    if value is None:
                        _put_byte(w, 0)
                        continue
                    _put_byte(w, 1)
                if not PyUnicode_Check(value):
                    raise _e.expected(
                        info.wheres[i], "str or None" if kind == _OPT_STR else "str", value
                    )
                _put_str(w, value, info, i)
            elif kind == _BYTES:
                raw = _as_bytes(value)
                if raw is None:
                    raise _e.expected(info.wheres[i], "bytes", value)
                _put_bytes(w, raw)
            elif kind == _INT:
                if not PyLong_Check(value) or PyBool_Check(value):
                    raise _e.expected(info.wheres[i], "int", value)
                number = PyLong_AsLongLongAndOverflow(value, &overflow)
                if overflow:
                    raise _e.out_of_range(info.wheres[i], value)
                _put_varint(w, ((<uint64_t>number) << 1) ^ <uint64_t>(number >> 63))
            elif kind == _FLOAT:
                if PyFloat_Check(value):
                    real = PyFloat_AS_DOUBLE(value)
                elif PyLong_Check(value) and not PyBool_Check(value):
                    try:
                        real = PyFloat_AsDouble(value)
                    except OverflowError:
                        raise _e.float_overflow(info.wheres[i], value) from None
                else:
                    raise _e.expected(info.wheres[i], "float", value)
                if w.size + 8 > w.cap:
                    _grow(w, 8)
                _put_double(w, real)
            elif kind == _TAGS:
                self._write_tags(w, value, info, i)
            elif kind == _META:
                self._write_meta(w, value, info, i)
            elif kind == _STR_LIST:
                self._write_str_list(w, value, info, i)
            elif kind == _NESTED_LIST:
                self._write_list(w, value, info, i, depth)
            else:  # _NESTED
                if value is None:
                    _put_byte(w, 0)
                    continue
                found = PyDict_GetItem(self._by_class, type(value))
                if found == NULL:
                    raise _e.nested_not_registered(info.wheres[i], value)
                if depth >= _C_MAX_DEPTH:
                    raise _e.nested_too_deep(info.wheres[i])
                nested = <_Type>found
                _put_raw(w, PyBytes_AS_STRING(nested.id_bytes), PyBytes_GET_SIZE(nested.id_bytes))
                self._write(w, value, nested, depth + 1)
        return 0

    cdef int _write_tags(self, _Writer* w, object value, _Type info, Py_ssize_t i) except -1:
        cdef Py_ssize_t n
        if not PyAnySet_Check(value):
            raise _e.expected(info.wheres[i], "frozenset[str]", value)
        for tag in value:
            if not PyUnicode_Check(tag):
                raise _e.must_be_str(info.wheres[i], "tags", tag)
        n = len(value)
        _put_varint(w, <uint64_t>n)
        if n == 0:
            return 0
        if n <= 2:
            first = None
            for tag in value:
                if first is None:
                    first = tag
                elif tag < first:
                    _put_str(w, tag, info, i)
                    _put_str(w, first, info, i)
                    return 0
                else:
                    _put_str(w, first, info, i)
                    _put_str(w, tag, info, i)
                    return 0
            _put_str(w, first, info, i)
            return 0
        for tag in sorted(value):
            _put_str(w, tag, info, i)
        return 0

    cdef int _write_meta(self, _Writer* w, object value, _Type info, Py_ssize_t i) except -1:
        cdef Py_ssize_t pos = 0
        cdef PyObject* key
        cdef PyObject* item
        if not PyDict_Check(value):
            raise _e.expected(info.wheres[i], "dict[str, bytes]", value)
        _put_varint(w, <uint64_t>len(value))
        while PyDict_Next(value, &pos, &key, &item):
            if not PyUnicode_Check(<object>key):
                raise _e.must_be_str(info.wheres[i], "keys", <object>key)
            raw = _as_bytes(<object>item)
            if raw is None:
                raise _e.meta_value(info.wheres[i], <object>key, <object>item)
            _put_str(w, <object>key, info, i)
            _put_bytes(w, raw)
        return 0

    cdef int _write_str_list(self, _Writer* w, object value, _Type info, Py_ssize_t i) except -1:
        if not (PyList_Check(value) or PyTuple_Check(value)):
            raise _e.expected(info.wheres[i], "list[str]", value)
        _put_varint(w, <uint64_t>len(value))
        for item in value:  # list and tuple: indexed, re-checking the size, like list iteration
            if not PyUnicode_Check(item):
                raise _e.must_be_str(info.wheres[i], "items", item)
            _put_str(w, item, info, i)
        return 0

    cdef int _write_list(self, _Writer* w, object value, _Type info, Py_ssize_t i,
                         int depth) except -1:
        cdef PyObject* found
        cdef _Type nested
        if not (PyList_Check(value) or PyTuple_Check(value)):
            raise _e.expected(info.wheres[i], "a list of messages", value)
        if depth >= _C_MAX_DEPTH:
            raise _e.nested_too_deep(info.wheres[i])
        _put_varint(w, <uint64_t>len(value))
        for item in value:
            found = PyDict_GetItem(self._by_class, type(item))
            if found == NULL:
                raise _e.nested_not_registered(info.wheres[i], item)
            nested = <_Type>found
            _put_raw(w, PyBytes_AS_STRING(nested.id_bytes), PyBytes_GET_SIZE(nested.id_bytes))
            self._write(w, item, nested, depth + 1)
        return 0

    # ------------------------------------------------------------------------------ decode

    def decode(self, data):
        """The message whose envelope bytes are `data`; EnvelopeError if they are not valid."""
        cdef Py_buffer view
        cdef bint has_view = False
        cdef _Reader r
        cdef Py_ssize_t end
        cdef uint64_t type_id
        cdef unsigned char version
        cdef _Type info
        if PyBytes_CheckExact(data):
            r.buf = <const unsigned char*>PyBytes_AS_STRING(data)
            end = PyBytes_GET_SIZE(data)
        else:
            if isinstance(data, memoryview):
                try:
                    size = data.nbytes
                except ValueError:  # released: there are no bytes to read
                    raise _e.released() from None
                if size > self._max_size:
                    raise _e.too_large(size, self._limit)
                if not data.c_contiguous:
                    data = data.tobytes()
            elif not isinstance(data, (bytes, bytearray)):
                raise _e.not_bytes(data)
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            has_view = True
            r.buf = <const unsigned char*>view.buf
            end = view.len
        try:
            r.pos = 0
            r.end = end
            if end > self._max_size:
                raise _e.too_large(end, self._limit)
            if end >= 2 and (r.buf[0] != 0x49 or r.buf[1] != 0x4E):
                raise _e.bad_magic(bytes(r.buf[:2]))
            if end < 3:
                raise _e.truncated("the header", 3, end)
            version = r.buf[2]
            if version != _C_VERSION:
                raise _e.bad_version(version)
            r.pos = 3
            _get_varint(&r, &type_id, None, -1)
            info = self._lookup(type_id)
            if info is None:
                raise _e.unknown_type(PyLong_FromUnsignedLongLong(type_id))
            message = self._read(&r, info, 0)
            if r.pos != end:
                raise _e.trailing(end - r.pos, info.label)
            return message
        finally:
            if has_view:
                PyBuffer_Release(&view)

    cdef inline _Type _lookup(self, uint64_t type_id):
        cdef PyObject* found
        if type_id < _ID_TABLE:
            return <_Type>self._id_table[type_id]
        found = PyDict_GetItem(self._by_id, PyLong_FromUnsignedLongLong(type_id))
        if found == NULL:
            return None
        return <_Type>found

    cdef list _read_list(self, _Reader* r, _Type info, Py_ssize_t i, int depth):
        cdef uint64_t raw
        cdef uint64_t type_id
        cdef Py_ssize_t k
        cdef Py_ssize_t left
        cdef _Type nested
        cdef list items
        _get_varint(r, &raw, info, i)
        left = r.end - r.pos
        if raw > <uint64_t>left:
            count = PyLong_FromUnsignedLongLong(raw)
            raise _e.count_error(info.wheres[i], count, count, left)
        if depth >= _C_MAX_DEPTH:
            raise _e.decode_too_deep(info.wheres[i])
        # appended, not preallocated: the items' constructors run Python code, which must never
        # see a list with empty slots
        items = []
        for k in range(<Py_ssize_t>raw):
            _get_varint(r, &type_id, info, i)
            nested = self._lookup(type_id)
            if nested is None:
                raise _e.unknown_type(PyLong_FromUnsignedLongLong(type_id), info.wheres[i])
            items.append(self._read(r, nested, depth + 1))
        return items

    cdef object _read(self, _Reader* r, _Type info, int depth):
        cdef Py_ssize_t i
        cdef Py_ssize_t n
        cdef Py_ssize_t k
        cdef Py_ssize_t left
        cdef uint64_t raw
        cdef unsigned char flag
        cdef unsigned char kind
        cdef _Type nested
        cdef object value
        cdef tuple values = PyTuple_New(info.nfields)
        for i in range(info.nfields):
            kind = info.kinds[i]
            if kind == _STR:
                value = _get_str(r, info, i)
            elif kind == _OPT_STR:
                if r.pos >= r.end:
                    raise _e.truncated(info.wheres[i], 1, 0)
                flag = r.buf[r.pos]
                r.pos += 1
                if flag == 0:
                    value = None
                elif flag == 1:
                    value = _get_str(r, info, i)
                else:
                    raise _e.bad_presence(flag, info.wheres[i])
            elif kind == _BYTES:
                value = _get_bytes(r, info, i)
            elif kind == _INT:
                _get_varint(r, &raw, info, i)
                value = PyLong_FromLongLong(<long long>((raw >> 1) ^ (0 - (raw & 1))))
            elif kind == _FLOAT:
                left = r.end - r.pos
                if left < 8:
                    raise _e.truncated(info.wheres[i], 8, left)
                value = PyFloat_FromDouble(_get_double(r.buf + r.pos))
                r.pos += 8
            elif kind == _TAGS:
                _get_varint(r, &raw, info, i)
                left = r.end - r.pos
                if raw > <uint64_t>left:
                    count = PyLong_FromUnsignedLongLong(raw)
                    raise _e.count_error(info.wheres[i], count, count, left)
                if raw == 0:
                    value = _EMPTY_TAGS
                else:
                    value = PyFrozenSet_New(NULL)
                    for k in range(<Py_ssize_t>raw):
                        PySet_Add(value, _get_str(r, info, i))
            elif kind == _META:
                _get_varint(r, &raw, info, i)
                left = r.end - r.pos
                if raw > <uint64_t>(left // 2):
                    count = PyLong_FromUnsignedLongLong(raw)
                    raise _e.count_error(info.wheres[i], count, count * 2, left)
                value = {}
                for k in range(<Py_ssize_t>raw):
                    key = _get_str(r, info, i)
                    PyDict_SetItem(value, key, _get_bytes(r, info, i))
            elif kind == _STR_LIST:
                _get_varint(r, &raw, info, i)
                left = r.end - r.pos
                if raw > <uint64_t>left:
                    count = PyLong_FromUnsignedLongLong(raw)
                    raise _e.count_error(info.wheres[i], count, count, left)
                value = PyList_New(<Py_ssize_t>raw)
                for k in range(<Py_ssize_t>raw):
                    item = _get_str(r, info, i)
                    Py_INCREF(item)
                    PyList_SET_ITEM(value, k, item)
            elif kind == _NESTED_LIST:
                value = self._read_list(r, info, i, depth)
            else:  # _NESTED
                _get_varint(r, &raw, info, i)
                if raw == 0:
                    value = None
                else:
                    nested = self._lookup(raw)
                    if nested is None:
                        raise _e.unknown_type(PyLong_FromUnsignedLongLong(raw), info.wheres[i])
                    if depth >= _C_MAX_DEPTH:
                        raise _e.decode_too_deep(info.wheres[i])
                    value = self._read(r, nested, depth + 1)
            Py_INCREF(value)
            PyTuple_SET_ITEM(values, i, value)
        try:
            return info.cls(*values)
        except Exception as exc:
            raise _e.cannot_build(info.label, exc) from exc
