"""Turning exceptions into ErrorInfo chains, the form in which errors travel."""

from __future__ import annotations

import traceback

from .messages import ErrorInfo

MAX_CHAIN = 16


def exception_name(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def error_info(exc: BaseException, worker_name: str, depth: int = 0) -> ErrorInfo:
    """The exception and its causes (explicit `raise from`, else implicit context)."""
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return ErrorInfo(
        worker_name=worker_name,
        name=exception_name(exc),
        message=str(exc),
        stack_trace="".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__, chain=False)
        ),
        cause=error_info(cause, worker_name, depth + 1) if cause and depth < MAX_CHAIN else None,
    )
