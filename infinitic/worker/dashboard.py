"""What the dashboard (infinitic.web) is given by its composition roots, the worker and the CLI.

The dashboard may not import a concrete transport (DESIGN section 2): its Pulsar panel gets the
topic statistics as a function built here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..transport.base import Transport


def pulsar_stats(transport: Transport) -> Callable[[], list[dict[str, Any]]] | None:
    """The Pulsar panel's source for `transport`, or None when it is not Pulsar (or has no
    admin URL)."""
    return _stats(getattr(transport, "settings", None))


def pulsar_stats_of(
    kind: str, options: Mapping[str, Any]
) -> Callable[[], list[dict[str, Any]]] | None:
    """The same from a config's `transport` and its options (the CLI's dashboard)."""
    if kind != "pulsar":
        return None
    from ..transport.pulsar.settings import PulsarSettings

    return _stats(PulsarSettings.from_options(options))


def _stats(settings: Any) -> Callable[[], list[dict[str, Any]]] | None:
    if settings is None or not getattr(settings, "web_service_url", None):
        return None
    from ..transport.pulsar.admin import topic_stats

    return lambda: topic_stats(settings)
