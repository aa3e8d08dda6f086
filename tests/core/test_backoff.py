"""Truncated randomized exponential backoff, over the compiled and the pure-Python kernels."""

from __future__ import annotations

import inspect
import math
import pickle
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.kernels import BackoffKernel, load


class CustomError(Exception):
    pass


class SubCustomError(CustomError):
    pass


class Outer:
    class NestedError(RuntimeError):
        pass


CUSTOM = f"{__name__}.CustomError"

retries = st.integers(min_value=0, max_value=2000)
minimums = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)
spans = st.floats(min_value=1.0 + 1e-9, max_value=1e6, allow_nan=False)
coefficients = st.floats(min_value=1.0, max_value=10.0, allow_nan=False)
factors = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
units = st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False)


def _base(retry: int, minimum: float, maximum: float, coefficient: float) -> float:
    try:
        growth: float = coefficient ** float(retry)
    except OverflowError:
        return maximum
    return min(maximum, minimum * growth)


# --- constants and defaults -------------------------------------------------------------


def test_defaults(backoff_impl: BackoffKernel) -> None:
    assert backoff_impl.DEFAULT_MINIMUM_SECONDS == 1.0
    assert backoff_impl.DEFAULT_MAXIMUM_SECONDS == 1000.0
    assert backoff_impl.DEFAULT_BACKOFF_COEFFICIENT == 2.0
    assert backoff_impl.DEFAULT_RANDOM_FACTOR == 0.5
    assert backoff_impl.DEFAULT_MAXIMUM_RETRIES == 11
    policy = backoff_impl.ExponentialBackoff()
    assert policy.minimum_seconds == 1.0
    assert policy.maximum_seconds == 1000.0
    assert policy.backoff_coefficient == 2.0
    assert policy.random_factor == 0.5
    assert policy.maximum_retries == 11
    assert policy.ignored_exceptions == ()
    assert isinstance(policy.minimum_seconds, float)


def test_properties_are_read_only(backoff_impl: BackoffKernel) -> None:
    policy = backoff_impl.ExponentialBackoff()
    with pytest.raises(AttributeError):
        policy.minimum_seconds = 2.0


def test_ignored_exceptions_is_a_tuple(backoff_impl: BackoffKernel) -> None:
    policy = backoff_impl.ExponentialBackoff(ignored_exceptions=["a.B", "ValueError"])
    assert policy.ignored_exceptions == ("a.B", "ValueError")
    policy = backoff_impl.ExponentialBackoff(ignored_exceptions=(n for n in ["x.Y"]))
    assert policy.ignored_exceptions == ("x.Y",)


# --- compute_delay ----------------------------------------------------------------------


def test_compute_delay_exact_values(backoff_impl: BackoffKernel) -> None:
    cd = backoff_impl.compute_delay
    assert cd(0, 1.0, 1000.0, 2.0, 0.0, 0.3) == 1.0
    assert cd(3, 1.0, 1000.0, 2.0, 0.0, 0.3) == 8.0
    assert cd(3, 1.0, 1000.0, 2.0, 0.5, 0.5) == 8.0
    assert cd(3, 1.0, 1000.0, 2.0, 0.5, 0.0) == 4.0  # 8 * (1 - 0.5)
    assert cd(3, 1.0, 1000.0, 2.0, 0.5, 0.75) == 10.0  # 8 * (1 + 0.5 * 0.5)
    assert cd(10, 1.0, 1000.0, 2.0, 0.0, 0.9) == 1000.0  # 1024 truncated at the maximum
    assert cd(2, 1.5, 1000.0, 3.0, 0.0, 0.1) == 13.5
    assert cd(5, 2.0, 1000.0, 1.0, 0.0, 0.1) == 2.0  # coefficient 1: constant delay


def test_compute_delay_accepts_ints(backoff_impl: BackoffKernel) -> None:
    result = backoff_impl.compute_delay(2, 1, 1000, 2, 0, 0)
    assert result == 4.0
    assert isinstance(result, float)


@pytest.mark.parametrize("retry", [1100, 10**6, 2**62, 2**63, 2**64 + 1, 10**400])
def test_compute_delay_huge_retry_is_the_maximum(backoff_impl: BackoffKernel, retry: int) -> None:
    assert backoff_impl.compute_delay(retry, 1.0, 1000.0, 2.0, 0.0, 0.5) == 1000.0
    if retry >= 2**62:  # even the smallest coefficient above 1 overflows
        assert backoff_impl.compute_delay(retry, 1.0, 1000.0, 1.0 + 2**-52, 0.0, 0.5) == 1000.0
    assert backoff_impl.compute_delay(retry, 3.0, 1000.0, 1.0, 0.0, 0.5) == 3.0
    assert backoff_impl.compute_delay(retry, 1.0, 1000.0, 2.0, 0.5, 0.0) == 500.0


def test_compute_delay_infinite_maximum(backoff_impl: BackoffKernel) -> None:
    assert backoff_impl.compute_delay(10, 1.0, math.inf, 2.0, 0.0, 0.5) == 1024.0
    assert backoff_impl.compute_delay(10**6, 1.0, math.inf, 2.0, 0.0, 0.5) == math.inf


def test_compute_delay_rejects_negative_retry(backoff_impl: BackoffKernel) -> None:
    with pytest.raises(ValueError, match=r"retry \(-1\) must be greater than or equal to 0"):
        backoff_impl.compute_delay(-1, 1.0, 1000.0, 2.0, 0.5, 0.5)


@pytest.mark.parametrize("retry", [1.0, "1", None])
def test_compute_delay_rejects_non_integer_retry(
    backoff_impl: BackoffKernel, retry: object
) -> None:
    with pytest.raises(TypeError):
        backoff_impl.compute_delay(retry, 1.0, 1000.0, 2.0, 0.5, 0.5)


# The fixture only yields a module, so sharing it across hypothesis examples is safe.
FIXTURE_OK = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FIXTURE_OK
@given(retries, minimums, spans, coefficients, factors, units)
def test_compute_delay_bounds(
    backoff_impl: BackoffKernel,
    retry: int,
    minimum: float,
    span: float,
    coefficient: float,
    factor: float,
    u: float,
) -> None:
    maximum = minimum * span
    base = _base(retry, minimum, maximum, coefficient)
    delay = backoff_impl.compute_delay(retry, minimum, maximum, coefficient, factor, u)
    slack = 1e-12 * base
    assert base * (1 - factor) - slack <= delay <= base * (1 + factor) + slack
    assert 0.0 <= delay <= maximum * (1 + factor) + slack


# --- get_seconds_before_retry -----------------------------------------------------------


def test_random_factor_zero_is_the_exact_exponential(backoff_impl: BackoffKernel) -> None:
    policy = backoff_impl.ExponentialBackoff(
        minimum_seconds=0.5, maximum_seconds=100.0, random_factor=0.0, maximum_retries=20
    )
    delays = [policy.get_seconds_before_retry(r, RuntimeError()) for r in range(20)]
    assert delays == [min(100.0, 0.5 * 2.0**r) for r in range(20)]
    assert delays[:8] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    assert delays[8:] == [100.0] * 12  # truncated at the maximum


@FIXTURE_OK
@given(
    minimums,
    spans,
    coefficients,
    factors,
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=0, max_value=2**32),
)
def test_delays_are_within_bounds(
    backoff_impl: BackoffKernel,
    minimum: float,
    span: float,
    coefficient: float,
    factor: float,
    retry: int,
    seed: int,
) -> None:
    maximum = minimum * span
    base = _base(retry, minimum, maximum, coefficient)
    policy = backoff_impl.ExponentialBackoff(
        minimum, maximum, coefficient, factor, 100, random=random.Random(seed)
    )
    delay = policy.get_seconds_before_retry(retry, RuntimeError())
    assert delay is not None
    slack = 1e-12 * base
    assert base * (1 - factor) - slack <= delay <= base * (1 + factor) + slack
    assert delay >= 0.0


def test_no_retry_at_maximum_retries(backoff_impl: BackoffKernel) -> None:
    policy = backoff_impl.ExponentialBackoff(maximum_retries=3)
    assert policy.get_seconds_before_retry(2, RuntimeError()) is not None
    assert policy.get_seconds_before_retry(3, RuntimeError()) is None
    assert policy.get_seconds_before_retry(4, RuntimeError()) is None
    assert policy.get_seconds_before_retry(10**400, RuntimeError()) is None
    never = backoff_impl.ExponentialBackoff(maximum_retries=0)
    assert never.get_seconds_before_retry(0, RuntimeError()) is None


@pytest.mark.parametrize("maximum", [2**63 - 2, 2**63 - 1, 2**63, 2**64 + 3])
def test_maximum_retries_beyond_64_bits(backoff_impl: BackoffKernel, maximum: int) -> None:
    policy = backoff_impl.ExponentialBackoff(maximum_retries=maximum)
    assert policy.maximum_retries == maximum
    for retry in (maximum - 2, maximum - 1, maximum, maximum + 1, 2**63 - 1, 2**63, 2**65):
        expected_retry = retry < maximum
        assert (policy.get_seconds_before_retry(retry, KeyError()) is not None) is expected_retry


def test_default_policy_retries_eleven_times(backoff_impl: BackoffKernel) -> None:
    policy = backoff_impl.ExponentialBackoff(random=random.Random(7))
    delays = [policy.get_seconds_before_retry(r, RuntimeError()) for r in range(13)]
    assert all(d is not None for d in delays[:11])
    assert delays[11:] == [None, None]


def test_huge_retry_does_not_overflow(backoff_impl: BackoffKernel) -> None:
    policy = backoff_impl.ExponentialBackoff(maximum_retries=10**500, random=random.Random(1))
    for retry in (1024, 1075, 5000, 2**63, 10**400):
        delay = policy.get_seconds_before_retry(retry, RuntimeError())
        assert delay is not None
        assert 500.0 <= delay <= 1500.0


def test_ignored_exceptions(backoff_impl: BackoffKernel) -> None:
    policy = backoff_impl.ExponentialBackoff(
        ignored_exceptions=[CUSTOM, "ValueError", f"{__name__}.Outer.NestedError"]
    )
    assert policy.get_seconds_before_retry(0, CustomError()) is None
    assert policy.get_seconds_before_retry(0, SubCustomError()) is None  # subclass
    assert policy.get_seconds_before_retry(0, ValueError()) is None  # bare builtin name
    assert policy.get_seconds_before_retry(0, UnicodeDecodeError("x", b"", 0, 1, "r")) is None
    assert policy.get_seconds_before_retry(0, Outer.NestedError()) is None  # qualname
    assert policy.get_seconds_before_retry(0, RuntimeError()) is not None
    assert policy.get_seconds_before_retry(0, KeyError()) is not None
    qualified = backoff_impl.ExponentialBackoff(ignored_exceptions=["builtins.LookupError"])
    assert qualified.get_seconds_before_retry(0, KeyError()) is None  # builtin base class
    assert qualified.get_seconds_before_retry(0, ValueError()) is not None


def test_ignored_exception_does_not_consume_randomness(backoff_impl: BackoffKernel) -> None:
    a = backoff_impl.ExponentialBackoff(ignored_exceptions=[CUSTOM], random=random.Random(3))
    b = backoff_impl.ExponentialBackoff(ignored_exceptions=[CUSTOM], random=random.Random(3))
    assert a.get_seconds_before_retry(0, CustomError()) is None
    assert a.get_seconds_before_retry(20, RuntimeError()) is None
    assert a.get_seconds_before_retry(1, RuntimeError()) == b.get_seconds_before_retry(
        1, RuntimeError()
    )


def test_exception_matches(backoff_impl: BackoffKernel) -> None:
    em = backoff_impl.exception_matches
    assert em(SubCustomError(), {CUSTOM})
    assert em(SubCustomError(), [CUSTOM])
    assert em(SubCustomError(), (f"{__name__}.SubCustomError",))
    assert not em(CustomError(), {f"{__name__}.SubCustomError"})
    assert not em(CustomError(), set())
    assert em(ValueError(), {"ValueError"})
    assert em(ValueError(), {"builtins.ValueError"})
    assert em(ValueError(), {"Exception"})
    assert not em(CustomError(), {"CustomError"})  # non-builtins need their module
    assert not em(ValueError(), {"other.ValueError"})
    assert em(KeyboardInterrupt(), {"BaseException"})


def test_delay_is_never_negative(backoff_impl: BackoffKernel) -> None:
    class Zero(random.Random):
        def random(self) -> float:
            return 0.0

    policy = backoff_impl.ExponentialBackoff(random_factor=1.0, random=Zero())
    delay = policy.get_seconds_before_retry(0, RuntimeError())
    assert delay == 0.0
    assert math.copysign(1.0, delay) == 1.0


def test_negative_retry_is_rejected(backoff_impl: BackoffKernel) -> None:
    policy = backoff_impl.ExponentialBackoff()
    with pytest.raises(ValueError, match="retry"):
        policy.get_seconds_before_retry(-1, RuntimeError())


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"minimum_seconds": 0}, r"retry\.minimumSeconds \(0\.0\) must be greater than 0"),
        ({"minimum_seconds": -1.0}, r"retry\.minimumSeconds \(-1\.0\) must be greater than 0"),
        ({"minimum_seconds": math.nan}, r"retry\.minimumSeconds \(nan\)"),
        (
            {"maximum_seconds": 0.5},
            r"^retry\.maximumSeconds \(0\.5\) must be greater than retry\.minimumSeconds \(1\.0\)$",
        ),
        ({"minimum_seconds": 5, "maximum_seconds": 5}, r"retry\.maximumSeconds \(5\.0\)"),
        (
            {"backoff_coefficient": 0.9},
            r"retry\.backoffCoefficient \(0\.9\) must be greater than or equal to 1",
        ),
        ({"random_factor": -0.1}, r"retry\.randomFactor \(-0\.1\) must be between 0 and 1"),
        ({"random_factor": 1.5}, r"retry\.randomFactor \(1\.5\) must be between 0 and 1"),
        ({"random_factor": math.nan}, r"retry\.randomFactor \(nan\)"),
        (
            {"maximum_retries": -1},
            r"retry\.maximumRetries \(-1\) must be greater than or equal to 0",
        ),
        ({"maximum_retries": 1.0}, r"retry\.maximumRetries must be an integer, not float"),
        ({"maximum_retries": True}, r"retry\.maximumRetries must be an integer, not bool"),
        ({"minimum_seconds": "1"}, r"retry\.minimumSeconds must be a number, not str"),
        ({"random_factor": None}, r"retry\.randomFactor must be a number, not NoneType"),
        ({"ignored_exceptions": "ValueError"}, r"retry\.ignoredExceptions must be a list"),
        ({"ignored_exceptions": 3}, r"retry\.ignoredExceptions must be a list"),
        ({"ignored_exceptions": ["a.B", ""]}, r"retry\.ignoredExceptions\[1\] \(''\)"),
        ({"ignored_exceptions": [ValueError]}, r"retry\.ignoredExceptions\[0\]"),
    ],
)
def test_validation(backoff_impl: BackoffKernel, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        backoff_impl.ExponentialBackoff(**kwargs)


def test_validation_boundaries_are_accepted(backoff_impl: BackoffKernel) -> None:
    policy = backoff_impl.ExponentialBackoff(
        minimum_seconds=1e-9,
        maximum_seconds=math.inf,
        backoff_coefficient=1,
        random_factor=1,
        maximum_retries=0,
    )
    assert policy.backoff_coefficient == 1.0
    assert policy.random_factor == 1.0
    backoff_impl.ExponentialBackoff(random_factor=0)


# --- equality, repr, pickling -----------------------------------------------------------


def test_equality_and_hash(backoff_impl: BackoffKernel) -> None:
    cls = backoff_impl.ExponentialBackoff
    assert cls() == cls(1, 1000, 2, 0.5, 11, (), random.Random(5))  # randomness is not config
    assert hash(cls()) == hash(cls(1, 1000, 2, 0.5, 11))
    assert cls() != cls(maximum_retries=3)
    assert cls() != cls(ignored_exceptions=["ValueError"])
    assert cls(ignored_exceptions=["a.B"]) == cls(ignored_exceptions=("a.B",))
    assert cls() != (1.0, 1000.0, 2.0, 0.5, 11, ())
    assert len({cls(), cls(), cls(minimum_seconds=2)}) == 2


def test_repr(backoff_impl: BackoffKernel) -> None:
    policy = backoff_impl.ExponentialBackoff(maximum_retries=3, ignored_exceptions=["a.B"])
    assert repr(policy) == (
        "ExponentialBackoff(minimum_seconds=1.0, maximum_seconds=1000.0, "
        "backoff_coefficient=2.0, random_factor=0.5, maximum_retries=3, "
        "ignored_exceptions=('a.B',))"
    )


def test_pickle_keeps_config_and_random_state(backoff_impl: BackoffKernel) -> None:
    policy = backoff_impl.ExponentialBackoff(
        minimum_seconds=2, ignored_exceptions=["a.B"], random=random.Random(11)
    )
    clone = pickle.loads(pickle.dumps(policy))
    assert clone == policy
    assert type(clone) is type(policy)
    assert [clone.get_seconds_before_retry(r, RuntimeError()) for r in range(5)] == [
        policy.get_seconds_before_retry(r, RuntimeError()) for r in range(5)
    ]


def test_selector_exports() -> None:
    from infinitic._core import backoff

    assert backoff.IMPLEMENTATION in ("c", "py")
    twin = load("backoff", "py")
    for name in twin.__all__:
        assert hasattr(backoff, name), name
    if backoff.IMPLEMENTATION == "py":
        assert backoff.ExponentialBackoff is twin.ExponentialBackoff


# --- parity between the compiled module and its twin ------------------------------------


@pytest.mark.c_extension
class TestParity:
    @pytest.fixture
    def modules(self) -> tuple[BackoffKernel, BackoffKernel]:
        return load("backoff", "py"), load("backoff", "c")

    def test_same_public_names(self, modules: tuple[BackoffKernel, BackoffKernel]) -> None:
        py, c = modules
        assert py.__all__ == c.__all__
        for name in py.__all__:
            assert hasattr(c, name), name
        for name in ("compute_delay", "exception_matches", "ExponentialBackoff"):
            # Cython's embedsignature prepends the signature to the shared docstring.
            py_doc = inspect.cleandoc(getattr(py, name).__doc__)
            assert inspect.cleandoc(getattr(c, name).__doc__).endswith(py_doc), name

    def test_seeded_sequences_are_identical(
        self, modules: tuple[BackoffKernel, BackoffKernel]
    ) -> None:
        py, c = modules
        for seed in range(20):
            kwargs = {
                "minimum_seconds": 0.1 + seed / 7,
                "maximum_seconds": 500.0 + seed,
                "backoff_coefficient": 1.0 + seed / 9,
                "random_factor": (seed % 11) / 10,
                "maximum_retries": 40,
            }
            a = py.ExponentialBackoff(**kwargs, random=random.Random(seed))
            b = c.ExponentialBackoff(**kwargs, random=random.Random(seed))
            assert repr(a) == repr(b)
            da = [a.get_seconds_before_retry(r, RuntimeError()) for r in range(45)]
            db = [b.get_seconds_before_retry(r, RuntimeError()) for r in range(45)]
            assert da == db
            assert da[40:] == [None] * 5

    @settings(max_examples=300, deadline=None)
    @given(
        st.one_of(retries, st.integers(min_value=0, max_value=10**30)),
        st.floats(min_value=1e-300, max_value=1e300, allow_nan=False),
        st.one_of(st.floats(min_value=1e-300, max_value=1e308), st.just(math.inf)),
        st.floats(min_value=1.0, max_value=1e10, allow_nan=False),
        factors,
        units,
    )
    def test_compute_delay_is_bit_identical(
        self,
        retry: int,
        minimum: float,
        maximum: float,
        coefficient: float,
        factor: float,
        u: float,
    ) -> None:
        py, c = load("backoff", "py"), load("backoff", "c")
        a = py.compute_delay(retry, minimum, maximum, coefficient, factor, u)
        b = c.compute_delay(retry, minimum, maximum, coefficient, factor, u)
        assert a.hex() == b.hex()

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"minimum_seconds": 0},
            {"maximum_seconds": 0.5},
            {"backoff_coefficient": 0.5},
            {"random_factor": 2},
            {"maximum_retries": -3},
            {"maximum_retries": 2.5},
            {"ignored_exceptions": "x"},
            {"ignored_exceptions": [""]},
            {"minimum_seconds": "1"},
        ],
    )
    def test_same_validation_errors(
        self, modules: tuple[BackoffKernel, BackoffKernel], kwargs: dict[str, object]
    ) -> None:
        py, c = modules
        with pytest.raises(ValueError) as err_py:
            py.ExponentialBackoff(**kwargs)
        with pytest.raises(ValueError) as err_c:
            c.ExponentialBackoff(**kwargs)
        assert str(err_py.value) == str(err_c.value)

    def test_same_exception_matching(self, modules: tuple[BackoffKernel, BackoffKernel]) -> None:
        py, c = modules
        names = [{CUSTOM}, {"ValueError"}, {"builtins.Exception"}, set(), {"LookupError"}]
        errors = [CustomError(), SubCustomError(), ValueError(), KeyError(), Outer.NestedError()]
        for n in names:
            for e in errors:
                assert py.exception_matches(e, n) == c.exception_matches(e, n)
