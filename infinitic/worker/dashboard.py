"""What the dashboard (infinitic.web) is given by its composition roots, the worker and the CLI.

The dashboard may not import a concrete transport (DESIGN section 2): its Pulsar panel gets the
topic statistics as a function built here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..transport.base import Transport


def pulsar_stats(transport: Transport) -> Callable[[], list[dict[str, Any]]] | None:
    """The Pulsar panel's source for `transport`, or None when it is not Pulsar (or has no
    admin URL)."""
    settings: Any = getattr(transport, "settings", None)
    if settings is None or not getattr(settings, "web_service_url", None):
        return None
    from ..transport.pulsar.admin import topic_stats

    return lambda: topic_stats(settings)
