"""Turning exceptions into ErrorInfo chains, the form in which errors travel."""

from __future__ import annotations

import traceback
from typing import Any

import orjson

from .messages import DetailedErrorInfo, ErrorInfo

MAX_CHAIN = 16
# custom properties larger than this (JSON bytes, all together) are left out
MAX_PROPERTIES_BYTES = 64 * 1024


def exception_name(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def error_info(
    exc: BaseException, worker_name: str, depth: int = 0, previous: ErrorInfo | None = None
) -> ErrorInfo:
    """The exception and its causes (explicit `raise from`, else implicit context; for an
    infinitic error with no Python cause, the remote failure it reports: `last_error`), its
    public JSON-serializable attributes, and the `previous` attempt's failure."""
    cause: Any = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    remote = getattr(exc, "last_error", None)
    if cause is None and isinstance(remote, ErrorInfo):
        chained: ErrorInfo | None = remote
    else:
        chained = error_info(cause, worker_name, depth + 1) if cause and depth < MAX_CHAIN else None
    name = exception_name(exc)
    message = str(exc)
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, chain=False))
    properties = _properties(exc)
    if properties or previous is not None:
        return DetailedErrorInfo(
            worker_name, name, message, stack, chained, properties=properties, previous=previous
        )
    return ErrorInfo(worker_name, name, message, stack, chained)


def _properties(exc: BaseException) -> bytes:
    """The exception's public attributes that JSON can hold, as a JSON object (b"" if none)."""
    found: dict[str, Any] = {}
    for key, value in getattr(exc, "__dict__", {}).items():
        if key.startswith("_") or key == "last_error" or callable(value):
            continue
        try:
            orjson.dumps(value)
        except TypeError:
            continue
        found[key] = value
    if not found:
        return b""
    data = orjson.dumps(found)
    return data if len(data) <= MAX_PROPERTIES_BYTES else b""
