"""`transport: {sqlite: {...}}`: the options, validated with errors that name the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError

_KEYS = {
    "path",
    "leaseSeconds",
    "maxRedeliveries",
    "redeliveryDelaySeconds",
    "pollIntervalSeconds",
    "synchronous",
    "busyTimeoutSeconds",
    "prefetch",
}
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True)
class SqliteTransportSettings:
    """`lease_seconds`: how long a claimed message stays its process's without a heartbeat
    (a killed process's messages go to another one after that); `poll_interval_seconds`: the
    longest an idle process sleeps between checks when the platform gives no file-change
    signal (inotify); `prefetch`: messages claimed ahead per handler."""

    path: str
    lease_seconds: float = 10.0
    max_redeliveries: int = 5
    redelivery_delay_seconds: float = 0.1
    poll_interval_seconds: float = 0.05
    synchronous: str = "NORMAL"
    busy_timeout_seconds: float = 5.0
    prefetch: int = 4

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SqliteTransportSettings:
        for key in options:
            if key not in _KEYS:
                raise ConfigError(
                    f"transport.sqlite.{key}: unknown key; allowed keys: {', '.join(sorted(_KEYS))}"
                )
        path = options.get("path")
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(
                "transport.sqlite.path: expected the path of the SQLite file that carries the "
                f"messages (it may be the state's file), got {path!r}"
            )
        sync = str(options.get("synchronous", "NORMAL")).upper()
        if sync not in _SYNCHRONOUS:
            raise ConfigError(
                f"transport.sqlite.synchronous: must be one of {', '.join(_SYNCHRONOUS)}, "
                f"got {options['synchronous']!r}"
            )
        return cls(
            path=path,
            lease_seconds=_number(options, "leaseSeconds", 10.0),
            max_redeliveries=int(_number(options, "maxRedeliveries", 5, integer=True, zero=True)),
            redelivery_delay_seconds=_number(options, "redeliveryDelaySeconds", 0.1, zero=True),
            poll_interval_seconds=_number(options, "pollIntervalSeconds", 0.05),
            synchronous=sync,
            busy_timeout_seconds=_number(options, "busyTimeoutSeconds", 5.0),
            prefetch=int(_number(options, "prefetch", 4, integer=True)),
        )


def _number(
    options: Mapping[str, Any],
    key: str,
    default: float,
    *,
    integer: bool = False,
    zero: bool = False,
) -> float:
    value = options.get(key, default)
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value != value:
        what = "an integer" if integer else "a number"
        raise ConfigError(f"transport.sqlite.{key}: expected {what}, got {value!r}")
    if value < 0 or (value == 0 and not zero):
        bound = "0 or more" if zero else "greater than 0"
        raise ConfigError(f"transport.sqlite.{key}: must be {bound}, got {value!r}")
    return float(value)
