# cython: language_level=3, boundscheck=False, wraparound=False
"""Workflow history replay: matching commands by position and evaluating steps, compiled.

`_replay_py.py` is its pure-Python twin and the type source: same names, signatures, errors,
docstrings and results. A `History` holds the commands of one method run in columns; replay
asks it whether a command re-created at a position matches the one recorded there (by the
workflow's check mode), and what a step (an await on a command, a signal, or an all/any tree
of them) evaluates to as of an event index, so a replay sees exactly what the first run saw.

Steps are trees of tuples: ("c", i) for command i, ("r", i, n) for the n-th signal of receive
command i, ("all", (children...)) and ("any", (children...)).
"""

# _replay_py.py is the reference: keep names, messages and results in step with it
# (tests/core/test_replay.py compares the two). The columns are plain Python lists, exactly
# as in the twin (so `h.statuses[i] = ...` is seen by the next evaluate); the speed comes from
# C-level access to them and from C comparisons whenever both operands are exact ints that fit
# in a long long. Anything else (floats, bools, other index types, sequences that are not
# exact tuples or lists) takes the generic path, which does what the twin's Python does.

from typing import Any

from cpython.object cimport PyObject_GetItem

__all__ = [
    "CANCELED",
    "CHECK_NONE",
    "CHECK_SIMPLE",
    "CHECK_STRICT",
    "COMPLETED",
    "FAILED",
    "ONGOING",
    "STATUS_NAMES",
    "TIMED_OUT",
    "UNKNOWN",
    "History",
    "step_signature",
]

ONGOING = 0
UNKNOWN = 1
CANCELED = 2
FAILED = 3
TIMED_OUT = 4
COMPLETED = 5
STATUS_NAMES = ("ongoing", "unknown", "canceled", "failed", "timed_out", "completed")

CHECK_NONE = 0
CHECK_SIMPLE = 1
CHECK_STRICT = 2

Step = tuple[Any, ...]

cdef extern from "Python.h":
    bint PyLong_CheckExact(object o)
    bint PyTuple_CheckExact(object o)
    bint PyList_CheckExact(object o)
    bint PyUnicode_CheckExact(object o)
    Py_ssize_t PyTuple_GET_SIZE(object o)
    Py_ssize_t PyList_GET_SIZE(object o)
    long long PyLong_AsLongLongAndOverflow(object o, int* overflow)
    int Py_EnterRecursiveCall(const char* where)
    void Py_LeaveRecursiveCall()

# C mirrors of the module constants above.
cdef enum:
    C_ONGOING = 0
    C_COMPLETED = 5
    C_CHECK_NONE = 0
    C_CHECK_STRICT = 2


# --- helpers: C fast paths with the twin's Python semantics as the fallback ---------------


cdef inline bint _small(object o, long long* out) noexcept:
    """True (and the value in `out`) when `o` is an exact int that fits in a long long."""
    cdef int overflow = 0
    cdef long long v
    if not PyLong_CheckExact(o):
        return False
    v = PyLong_AsLongLongAndOverflow(o, &overflow)
    if overflow:
        return False
    out[0] = v
    return True


cdef inline int _enter() except -1:
    # A step tree deep enough to exhaust the stack raises RecursionError, as the twin does.
    if Py_EnterRecursiveCall(""):
        return -1
    return 0


cdef inline object _column_item(list column, object index):
    """column[index], with list semantics (negative indexes, IndexError, __index__...)."""
    cdef long long v
    cdef Py_ssize_t n
    if _small(index, &v):
        n = PyList_GET_SIZE(column)
        if v < 0:
            v += n
        if 0 <= v < n:
            return column[<Py_ssize_t>v]
        raise IndexError("list index out of range")
    return PyObject_GetItem(column, index)


cdef inline object _part(object step, Py_ssize_t k):
    """step[k] for a step node: direct for an exact tuple, else the generic subscript."""
    if PyTuple_CheckExact(step) and k < PyTuple_GET_SIZE(step):
        return (<tuple>step)[k]
    return PyObject_GetItem(step, k)


cdef inline bint _eq_small(object o, long long c) except -1:
    """o == c, c a small int constant."""
    cdef long long v
    if _small(o, &v):
        return v == c
    return True if o == c else False


cdef inline bint _ne_small(object o, long long c) except -1:
    """o != c, c a small int constant."""
    cdef long long v
    if _small(o, &v):
        return v != c
    return True if o != c else False


cdef inline bint _differ(object a, object b) except -1:
    """a != b."""
    if PyUnicode_CheckExact(a) and PyUnicode_CheckExact(b):
        return (<str>a) != (<str>b)
    return True if a != b else False


cdef inline bint _less(object a, object b) except -1:
    """a < b."""
    cdef long long x, y
    if _small(a, &x) and _small(b, &y):
        return x < y
    return True if a < b else False


cdef inline bint _less_equal(object a, object b) except -1:
    """a <= b."""
    cdef long long x, y
    if _small(a, &x) and _small(b, &y):
        return x <= y
    return True if a <= b else False


cdef inline bint _greater(object a, object b) except -1:
    """a > b."""
    cdef long long x, y
    if _small(a, &x) and _small(b, &y):
        return x > y
    return True if a > b else False


cdef inline object _result_item(object result, Py_ssize_t k):
    """result[k] of a child's evaluation (an exact 3-tuple unless a subclass says otherwise)."""
    if PyTuple_CheckExact(result) and k < PyTuple_GET_SIZE(result):
        return (<tuple>result)[k]
    return PyObject_GetItem(result, k)


cdef class History:
    """The commands of one method run, in columns indexed by command order."""

    cdef list _kinds
    cdef list _targets
    cdef list _args_hashes
    cdef list _statuses
    cdef list _completed_at
    cdef list _signal_at
    cdef bint _exact  # type(self) is History: children are evaluated without the cpdef hop
    cdef object __weakref__

    def __cinit__(self, *args, **kwargs):
        self._kinds = []
        self._targets = []
        self._args_hashes = []
        self._statuses = []
        self._completed_at = []
        self._signal_at = []
        self._exact = type(self) is History

    def __init__(self):
        self._kinds = []
        self._targets = []
        self._args_hashes = []
        self._statuses = []
        self._completed_at = []
        self._signal_at = []

    # The columns read (and can be replaced) as in the twin; only lists are accepted.

    @property
    def kinds(self):
        return self._kinds

    @kinds.setter
    def kinds(self, list value not None):
        self._kinds = value

    @property
    def targets(self):
        return self._targets

    @targets.setter
    def targets(self, list value not None):
        self._targets = value

    @property
    def args_hashes(self):
        return self._args_hashes

    @args_hashes.setter
    def args_hashes(self, list value not None):
        self._args_hashes = value

    @property
    def statuses(self):
        return self._statuses

    @statuses.setter
    def statuses(self, list value not None):
        self._statuses = value

    @property
    def completed_at(self):
        return self._completed_at

    @completed_at.setter
    def completed_at(self, list value not None):
        self._completed_at = value

    @property
    def signal_at(self):
        return self._signal_at

    @signal_at.setter
    def signal_at(self, list value not None):
        self._signal_at = value

    def __reduce__(self):
        return (
            type(self),
            (),
            (
                self._kinds,
                self._targets,
                self._args_hashes,
                self._statuses,
                self._completed_at,
                self._signal_at,
            ),
        )

    def __setstate__(self, state):
        cdef list kinds, targets, args_hashes, statuses, completed_at, signal_at
        kinds, targets, args_hashes, statuses, completed_at, signal_at = state
        self._kinds = kinds
        self._targets = targets
        self._args_hashes = args_hashes
        self._statuses = statuses
        self._completed_at = completed_at
        self._signal_at = signal_at

    def __len__(self):
        return PyList_GET_SIZE(self._kinds)

    def add(
        self,
        kind,
        target,
        args_hash,
        status,
        completed_at,
        signal_at=None,
    ):
        """Appends a command; returns its index."""
        cdef long long s
        cdef list signals
        if _small(status, &s):
            if not 0 <= s <= C_COMPLETED:
                raise ValueError(f"unknown command status {status}")
        elif not 0 <= status <= COMPLETED:
            raise ValueError(f"unknown command status {status}")
        signals = list(signal_at) if signal_at else []
        self._kinds.append(kind)
        self._targets.append(target)
        self._args_hashes.append(args_hash)
        self._statuses.append(status)
        self._completed_at.append(completed_at)
        self._signal_at.append(signals)
        return PyList_GET_SIZE(self._kinds) - 1

    def mismatch(self, index, kind, target, args_hash, mode):
        """None if the command at `index` matches under the check mode, else what differs."""
        cdef object recorded
        if _eq_small(mode, C_CHECK_NONE):
            return None
        recorded = _column_item(self._kinds, index)
        if _differ(recorded, kind):
            return f"expected a {recorded} command, found a {kind} command"
        recorded = _column_item(self._targets, index)
        if _differ(recorded, target):
            return f"expected {recorded}, found {target}"
        if _eq_small(mode, C_CHECK_STRICT) and _differ(
            _column_item(self._args_hashes, index), args_hash
        ):
            return f"the arguments of {target} changed"
        return None

    cpdef evaluate(self, step, as_of):
        """(status, deciding leaf, event index it was decided at) of `step` as of `as_of`.

        all: the earliest failure among members, else ongoing while any member is, else
        completed at the latest member's index. any: the earliest completed member, else
        ongoing while any member is, else the first failure in member order (decided when the
        last member failed).
        """
        cdef long long as_of_c = 0
        cdef bint fast = _small(as_of, &as_of_c)
        return self._eval(step, as_of, fast, as_of_c)

    cdef object _child(self, object child, object as_of, bint fast, long long as_of_c):
        if self._exact:
            return self._eval(child, as_of, fast, as_of_c)
        return self.evaluate(child, as_of)  # a subclass may override evaluate, as in the twin

    cdef object _eval(self, object step, object as_of, bint fast, long long as_of_c):
        cdef object tag = _part(step, 0)
        cdef object i, nth, at, status, signals, signal
        cdef long long a, n_c
        if tag == "c":
            i = _part(step, 1)
            at = _column_item(self._completed_at, i)
            if fast and _small(at, &a):
                if a < 0 or a > as_of_c:
                    return (ONGOING, step, -1)
            elif at < 0 or at > as_of:
                return (ONGOING, step, -1)
            return (_column_item(self._statuses, i), step, at)
        if tag == "r":
            i = _part(step, 1)
            nth = _part(step, 2)
            signals = _column_item(self._signal_at, i)
            if PyList_CheckExact(signals) and _small(nth, &n_c):
                if n_c < PyList_GET_SIZE(signals):
                    signal = _column_item(<list>signals, nth)
                    if _less_equal(signal, as_of):
                        return (COMPLETED, step, signal)
            elif nth < len(signals):
                signal = signals[nth]
                if signal <= as_of:
                    return (COMPLETED, step, signal)
            at = _column_item(self._completed_at, i)
            if fast and _small(at, &a):
                if not (a >= 0 and a <= as_of_c):
                    return (ONGOING, step, -1)
            elif not (at >= 0 and at <= as_of):
                return (ONGOING, step, -1)
            status = _column_item(self._statuses, i)
            if _ne_small(status, C_COMPLETED):
                return (status, step, at)
            return (ONGOING, step, -1)
        if tag == "all":
            return self._all(step, _part(step, 1), as_of, fast, as_of_c)
        if tag == "any":
            return self._any(step, _part(step, 1), as_of, fast, as_of_c)
        raise ValueError(f"unknown step node {tag!r}")

    cdef object _all(
        self, object step, object children, object as_of, bint fast, long long as_of_c
    ):
        cdef object failure = None
        cdef object failure_at = None
        cdef object latest = -1
        cdef bint ongoing = False
        cdef object child, result, status, at
        _enter()
        try:
            for child in children:
                result = self._child(child, as_of, fast, as_of_c)
                status = _result_item(result, 0)
                if _eq_small(status, C_ONGOING):
                    ongoing = True
                elif _ne_small(status, C_COMPLETED):
                    if failure is None:
                        failure = result
                        failure_at = _result_item(result, 2)
                    else:
                        at = _result_item(result, 2)
                        if _less(at, failure_at):
                            failure = result
                            failure_at = at
                else:
                    at = _result_item(result, 2)
                    if _greater(at, latest):
                        latest = at
        finally:
            Py_LeaveRecursiveCall()
        if failure is not None:
            return failure
        if ongoing:
            return (ONGOING, step, -1)
        return (COMPLETED, step, latest)

    cdef object _any(
        self, object step, object children, object as_of, bint fast, long long as_of_c
    ):
        cdef object best = None
        cdef object best_at = None
        cdef object first_failure = None
        cdef object latest = -1
        cdef bint ongoing = False
        cdef object child, result, status, at
        _enter()
        try:
            for child in children:
                result = self._child(child, as_of, fast, as_of_c)
                status = _result_item(result, 0)
                if _eq_small(status, C_COMPLETED):
                    if best is None:
                        best = result
                        best_at = _result_item(result, 2)
                    else:
                        at = _result_item(result, 2)
                        if _less(at, best_at):
                            best = result
                            best_at = at
                elif _eq_small(status, C_ONGOING):
                    ongoing = True
                else:
                    if first_failure is None:
                        first_failure = result
                    at = _result_item(result, 2)
                    if _greater(at, latest):
                        latest = at
        finally:
            Py_LeaveRecursiveCall()
        if best is not None:
            return best
        if ongoing or first_failure is None:
            return (ONGOING, step, -1)
        return (_result_item(first_failure, 0), _result_item(first_failure, 1), latest)


cdef object _signature(object step):
    cdef object tag = _part(step, 0)
    cdef object head
    cdef list parts
    if tag == "c":
        return f"c{_part(step, 1)}"
    if tag == "r":
        return f"r{_part(step, 1)}.{_part(step, 2)}"
    if tag == "all" or tag == "any":
        head = tag + "("
        _enter()
        try:
            parts = [_signature(child) for child in _part(step, 1)]
        finally:
            Py_LeaveRecursiveCall()
        return head + ",".join(parts) + ")"
    raise ValueError(f"unknown step node {tag!r}")


def step_signature(step):
    """A compact text of a step's shape (kinds and command indexes), compared on replay."""
    return _signature(step)
