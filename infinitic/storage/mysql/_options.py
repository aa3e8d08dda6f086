"""The options of ``storage: {mysql: {...}}``, and the checks of their values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...common.options import OptionNames
from ...errors import ConfigError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")

# the configuration options (camelCase, as in Infinitic's YAML; snake_case accepted too)
_NAMES = "host port user password database poolSize tablePrefix keyValueTable keySetTable "
_NAMES += "schemaTable createTables timeoutSeconds retryTimeoutSeconds maxBatch maxValueBytes"
# constructor argument -> option name (used in error messages); aliases -> argument
_OPTIONS = OptionNames(
    {re.sub("([A-Z])", r"_\1", n).lower(): n for n in _NAMES.split()} | {"unix_socket": "socket"},
    aliases={"username": "user", "unixSocket": "unix_socket"},
    secrets=("password",),
)
_KEY = "storage.mysql"


def arguments(options: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor's arguments of a ``storage: {mysql: {...}}`` configuration entry."""
    kwargs = _OPTIONS.arguments(options, _KEY)
    if "database" not in kwargs:
        raise ConfigError(f"{_KEY}.database is required (the name of an existing database)")
    return kwargs


def _bad(argument: str, what: str, value: object) -> ConfigError:
    return _OPTIONS.bad(argument, what, value, _KEY)


def _number(argument: str, value: object, *, minimum: float, strict: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        number = float(value)  # type: ignore[arg-type]
        ok = number > minimum if strict else number >= minimum
        ok = ok and number != float("inf")
    if not ok:
        sign = ">" if strict else ">="
        raise _bad(argument, f"a number of seconds {sign} {minimum:g}", value)
    return float(value)  # type: ignore[arg-type]


def _int(argument: str, value: object, minimum: int, maximum: int = 2**31) -> int:
    if type(value) is not int or not (minimum <= value <= maximum):
        raise _bad(argument, f"an int between {minimum} and {maximum}", value)
    return value


def _table(argument: str, name: object) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise _bad(argument, "a table name of 1-64 letters, digits, _ or $", name)
    return name
