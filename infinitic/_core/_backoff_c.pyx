# cython: language_level=3
"""Truncated randomized exponential backoff, compiled with Cython.

`_backoff_py.py` is its pure-Python twin and the type source: same names, signatures, errors,
docstrings and floating-point results (a seeded `random.Random` gives identical delays).
Imports the standard library only.
"""

import random as _random_module

from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.number cimport PyNumber_Index
from libc.limits cimport LLONG_MAX
from libc.math cimport pow as c_pow

__all__ = [
    "DEFAULT_BACKOFF_COEFFICIENT",
    "DEFAULT_MAXIMUM_RETRIES",
    "DEFAULT_MAXIMUM_SECONDS",
    "DEFAULT_MINIMUM_SECONDS",
    "DEFAULT_RANDOM_FACTOR",
    "ExponentialBackoff",
    "compute_delay",
    "exception_matches",
]

DEFAULT_MINIMUM_SECONDS = 1.0
DEFAULT_MAXIMUM_SECONDS = 1000.0
DEFAULT_BACKOFF_COEFFICIENT = 2.0
DEFAULT_RANDOM_FACTOR = 0.5
DEFAULT_MAXIMUM_RETRIES = 11

# Retry indexes are capped before the power: coefficient ** 2**62 already overflows for every
# coefficient > 1 (the smallest, 1 + 2**-52, gives about e**1024), and 1.0 ** r is 1.0.
_RETRY_CAP = 1 << 62

cdef extern from *:
    """
    /* The jitter must round exactly like CPython's float operations, one operation at a
       time: the volatile product keeps compilers from fusing `1 + rf * x` into an FMA
       (aarch64 and clang contract by default), which would change the last bit. */
    static double infinitic_backoff_jitter(double base, double rf, double u) {
        volatile double spread = rf * (2.0 * u - 1.0);
        return base * (1.0 + spread);
    }
    """
    double _jitter "infinitic_backoff_jitter"(double base, double rf, double u) nogil


cdef long long RETRY_CAP = 4611686018427387904  # 1 << 62, as _RETRY_CAP


cdef inline double _retry_as_double(object retry) except? -1.0:
    # Same checks and value as the twin's `_index(retry)`, `r < 0`, `min(r, _RETRY_CAP)`.
    cdef int overflow = 0
    cdef object r = PyNumber_Index(retry)
    cdef long long v = PyLong_AsLongLongAndOverflow(r, &overflow)
    if overflow > 0 or v > RETRY_CAP:
        return <double>RETRY_CAP
    if overflow < 0 or v < 0:
        raise ValueError(f"retry ({r}) must be greater than or equal to 0")
    return <double>v


cdef inline double _delay(
    double r, double minimum, double maximum, double coefficient, double factor, double u
) noexcept nogil:
    # libc pow is what CPython's float ** float calls; an overflow gives inf, capped below.
    cdef double base = minimum * c_pow(coefficient, r)
    if base > maximum:
        base = maximum
    return _jitter(base, factor, u)


def compute_delay(
    retry,
    double minimum_seconds,
    double maximum_seconds,
    double backoff_coefficient,
    double random_factor,
    double u,
):
    """Delay in seconds before the 0-based retry `retry`, u drawn uniformly in [0, 1).

    ``min(maximum, minimum * coefficient**retry) * (1 + random_factor * (2u - 1))``.
    A power too large for a float counts as the maximum, whatever the retry index.
    Raises ValueError if `retry` is negative, TypeError if it is not an integer.
    """
    cdef double r = _retry_as_double(retry)
    return _delay(
        r, minimum_seconds, maximum_seconds, backoff_coefficient, random_factor, u
    )


def exception_matches(exception, names):
    """True if the exception's class or any base class has a qualified name in `names`.

    Names are "module.QualName"; builtins match both "ValueError" and "builtins.ValueError".
    """
    if not names:
        return False
    for cls in type(exception).__mro__:
        module = cls.__module__
        qualname = cls.__qualname__
        if f"{module}.{qualname}" in names:
            return True
        if module == "builtins" and qualname in names:
            return True
    return False


cdef object _number(str key, object value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"retry.{key} must be a number, not {type(value).__name__}")
    return float(value)


cdef tuple _names(object value):
    if isinstance(value, (str, bytes)):
        raise ValueError(
            f"retry.ignoredExceptions must be a list of qualified class names, "
            f"not a single {type(value).__name__} ({value!r})"
        )
    try:
        names = tuple(value)
    except TypeError:
        raise ValueError(
            f"retry.ignoredExceptions must be a list of qualified class names, "
            f"not {type(value).__name__}"
        ) from None
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"retry.ignoredExceptions[{i}] ({name!r}) must be a non-empty qualified "
                f"class name such as 'builtins.ValueError' or 'my.module.MyError'"
            )
    return names


cdef class ExponentialBackoff:
    """Infinitic's default retry policy: truncated randomized exponential backoff.

    The delay before the 0-based retry r is ``min(maximum, minimum * coefficient**r)``
    times ``1 + random_factor * (2U - 1)``, with U uniform in [0, 1) drawn from `random`
    (a `random.Random`, a fresh one by default); there is no retry once r >= maximum_retries
    or when the exception (or a base class of it) is named in `ignored_exceptions`.
    Invalid parameters raise ValueError naming the config key (retry.minimumSeconds...).
    """

    cdef double _minimum_seconds
    cdef double _maximum_seconds
    cdef double _backoff_coefficient
    cdef double _random_factor
    cdef object _maximum_retries
    cdef long long _maximum_retries_c  # LLONG_MAX when the Python int does not fit
    cdef tuple _ignored_exceptions
    cdef frozenset _ignored_set
    cdef object _random
    cdef object _draw

    def __init__(
        self,
        minimum_seconds=DEFAULT_MINIMUM_SECONDS,
        maximum_seconds=DEFAULT_MAXIMUM_SECONDS,
        backoff_coefficient=DEFAULT_BACKOFF_COEFFICIENT,
        random_factor=DEFAULT_RANDOM_FACTOR,
        maximum_retries=DEFAULT_MAXIMUM_RETRIES,
        ignored_exceptions=(),
        random=None,
    ):
        minimum = _number("minimumSeconds", minimum_seconds)
        maximum = _number("maximumSeconds", maximum_seconds)
        coefficient = _number("backoffCoefficient", backoff_coefficient)
        factor = _number("randomFactor", random_factor)
        if not minimum > 0.0:
            raise ValueError(f"retry.minimumSeconds ({minimum!r}) must be greater than 0")
        if not maximum > minimum:
            raise ValueError(
                f"retry.maximumSeconds ({maximum!r}) must be greater than "
                f"retry.minimumSeconds ({minimum!r})"
            )
        if not coefficient >= 1.0:
            raise ValueError(
                f"retry.backoffCoefficient ({coefficient!r}) must be greater than or equal to 1"
            )
        if not 0.0 <= factor <= 1.0:
            raise ValueError(f"retry.randomFactor ({factor!r}) must be between 0 and 1")
        if isinstance(maximum_retries, bool) or not isinstance(maximum_retries, int):
            raise ValueError(
                f"retry.maximumRetries must be an integer, not {type(maximum_retries).__name__}"
            )
        if maximum_retries < 0:
            raise ValueError(
                f"retry.maximumRetries ({maximum_retries!r}) must be greater than or equal to 0"
            )
        names = _names(ignored_exceptions)
        self._minimum_seconds = minimum
        self._maximum_seconds = maximum
        self._backoff_coefficient = coefficient
        self._random_factor = factor
        self._maximum_retries = int(maximum_retries)
        self._maximum_retries_c = (
            self._maximum_retries if self._maximum_retries < LLONG_MAX else LLONG_MAX
        )
        self._ignored_exceptions = names
        self._ignored_set = frozenset(names)
        self._random = _random_module.Random() if random is None else random
        self._draw = self._random.random

    @property
    def minimum_seconds(self):
        """retry.minimumSeconds: the delay before the first retry, before randomization."""
        return self._minimum_seconds

    @property
    def maximum_seconds(self):
        """retry.maximumSeconds: the cap of the exponential, before randomization."""
        return self._maximum_seconds

    @property
    def backoff_coefficient(self):
        """retry.backoffCoefficient: the growth factor between two retries."""
        return self._backoff_coefficient

    @property
    def random_factor(self):
        """retry.randomFactor: the relative jitter, in [0, 1]."""
        return self._random_factor

    @property
    def maximum_retries(self):
        """retry.maximumRetries: the number of retries after the first attempt."""
        return self._maximum_retries

    @property
    def ignored_exceptions(self):
        """retry.ignoredExceptions: qualified names of exceptions that are never retried."""
        return self._ignored_exceptions

    def get_seconds_before_retry(self, retry, exception):
        """Seconds to wait before the 0-based retry `retry` after `exception`.

        None means do not retry: retry >= maximum_retries, or the exception is ignored.
        Otherwise the delay, never negative (a delay of 0 means retry at once). A random
        number is drawn only when a delay is returned.
        """
        cdef int overflow = 0
        cdef object r = PyNumber_Index(retry)
        cdef long long v = PyLong_AsLongLongAndOverflow(r, &overflow)
        cdef double delay
        if overflow == 0 and self._maximum_retries_c < LLONG_MAX:
            if v >= self._maximum_retries_c:
                return None
        elif r >= self._maximum_retries:
            return None
        if self._ignored_set and exception_matches(exception, self._ignored_set):
            return None
        cdef double rd = _retry_as_double(r)
        cdef double u = self._draw()
        delay = _delay(
            rd,
            self._minimum_seconds,
            self._maximum_seconds,
            self._backoff_coefficient,
            self._random_factor,
            u,
        )
        return delay if delay > 0.0 else 0.0

    cdef tuple _key(self):
        return (
            self._minimum_seconds,
            self._maximum_seconds,
            self._backoff_coefficient,
            self._random_factor,
            self._maximum_retries,
            self._ignored_exceptions,
        )

    def __eq__(self, other):
        if not isinstance(other, ExponentialBackoff):
            return NotImplemented
        return self._key() == (<ExponentialBackoff>other)._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return (
            f"ExponentialBackoff(minimum_seconds={self._minimum_seconds!r}, "
            f"maximum_seconds={self._maximum_seconds!r}, "
            f"backoff_coefficient={self._backoff_coefficient!r}, "
            f"random_factor={self._random_factor!r}, "
            f"maximum_retries={self._maximum_retries!r}, "
            f"ignored_exceptions={self._ignored_exceptions!r})"
        )

    def __reduce__(self):
        return (type(self), (*self._key(), self._random))
