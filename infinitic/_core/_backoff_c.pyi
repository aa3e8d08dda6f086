"""Type stub of the compiled `_backoff_c`; mirrors its pure-Python twin `_backoff_py`."""

import random as _random_module
from collections.abc import Collection, Iterable
from typing import Any

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

DEFAULT_MINIMUM_SECONDS: float
DEFAULT_MAXIMUM_SECONDS: float
DEFAULT_BACKOFF_COEFFICIENT: float
DEFAULT_RANDOM_FACTOR: float
DEFAULT_MAXIMUM_RETRIES: int

def compute_delay(
    retry: int,
    minimum_seconds: float,
    maximum_seconds: float,
    backoff_coefficient: float,
    random_factor: float,
    u: float,
) -> float: ...
def exception_matches(exception: BaseException, names: Collection[str]) -> bool: ...

class ExponentialBackoff:
    def __init__(
        self,
        minimum_seconds: float = 1.0,
        maximum_seconds: float = 1000.0,
        backoff_coefficient: float = 2.0,
        random_factor: float = 0.5,
        maximum_retries: int = 11,
        ignored_exceptions: Iterable[str] = (),
        random: _random_module.Random | None = None,
    ) -> None: ...
    @property
    def minimum_seconds(self) -> float: ...
    @property
    def maximum_seconds(self) -> float: ...
    @property
    def backoff_coefficient(self) -> float: ...
    @property
    def random_factor(self) -> float: ...
    @property
    def maximum_retries(self) -> int: ...
    @property
    def ignored_exceptions(self) -> tuple[str, ...]: ...
    def get_seconds_before_retry(self, retry: int, exception: BaseException) -> float | None: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
