"""The dashboard: see and steer workflows in a browser (docs/dashboard.md).

Needs the `dashboard` extra (Starlette and uvicorn): ``pip install 'infinitic[dashboard]'``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .app import create_app

if TYPE_CHECKING:
    from ..transport.base import Transport

__all__ = ["create_app", "pulsar_stats"]


def pulsar_stats(transport: Transport) -> Callable[[], list[dict[str, Any]]] | None:
    """The Pulsar panel's source for `transport`, or None when it is not Pulsar (or has no
    admin URL)."""
    settings: Any = getattr(transport, "settings", None)
    if settings is None or not getattr(settings, "web_service_url", None):
        return None
    from ..transport.pulsar.admin import topic_stats

    return lambda: topic_stats(settings)
