"""The `eventListener:`, `metrics:` and `dashboard:` blocks of a worker config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ConfigError

_LISTENER = {"class", "concurrency", "subscriptionName", "services", "workflows"}
_FILTER = {"allow", "disallow"}
_METRICS = {"prometheus"}
_PROMETHEUS = {"host", "port"}
_DASHBOARD = {"host", "port", "token"}


@dataclass(frozen=True)
class EntityFilter:
    """Which services (or workflows) a listener hears: `allow` None means all of them."""

    allow: frozenset[str] | None = None
    disallow: frozenset[str] = frozenset()

    def includes(self, name: str) -> bool:
        return name not in self.disallow and (self.allow is None or name in self.allow)


@dataclass(frozen=True)
class EventListenerConfig:
    class_path: str
    concurrency: int = 1
    subscription_name: str = "listener-subscription"
    services: EntityFilter = EntityFilter()
    workflows: EntityFilter = EntityFilter()


@dataclass(frozen=True)
class MetricsConfig:
    """`metrics: {prometheus: {host, port}}`: where `/metrics` is served (port 0: any free)."""

    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True)
class DashboardConfig:
    """`dashboard: {host, port, token}`: the dashboard served inside the worker (port 0: any
    free). `token`, when set, is required by its pages, API and actions."""

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None

    def __repr__(self) -> str:  # the token is a secret
        shown = "None" if self.token is None else "'***'"
        return f"DashboardConfig(host={self.host!r}, port={self.port!r}, token={shown})"


class _Checks(Protocol):
    def error(self, key: str, problem: str) -> ConfigError: ...
    def mapping(self, value: Any, key: str, allowed: set[str]) -> Mapping[str, Any]: ...
    def string(self, value: Any, key: str) -> str: ...
    def number(
        self, value: Any, key: str, *, integer: bool = False, positive: bool = True
    ) -> Any: ...


def event_listener(ctx: _Checks, value: Any, key: str = "eventListener") -> EventListenerConfig:
    entry = ctx.mapping(value, key, _LISTENER)
    if "class" not in entry:
        raise ctx.error(
            f"{key}.class", "missing: the listener class (module.Class with on_events(events))"
        )
    return EventListenerConfig(
        class_path=ctx.string(entry["class"], f"{key}.class"),
        concurrency=ctx.number(entry.get("concurrency", 1), f"{key}.concurrency", integer=True),
        subscription_name=ctx.string(
            entry.get("subscriptionName", "listener-subscription"), f"{key}.subscriptionName"
        ),
        services=_filter(ctx, entry.get("services"), f"{key}.services"),
        workflows=_filter(ctx, entry.get("workflows"), f"{key}.workflows"),
    )


def _filter(ctx: _Checks, value: Any, key: str) -> EntityFilter:
    if value is None:
        return EntityFilter()
    entry = ctx.mapping(value, key, _FILTER)

    def names(k: str) -> frozenset[str] | None:
        raw = entry.get(k)
        if raw is None:
            return None
        if not isinstance(raw, list):
            raise ctx.error(f"{key}.{k}", f"expected a list of names, got {raw!r}")
        return frozenset(ctx.string(n, f"{key}.{k}[{i}]") for i, n in enumerate(raw))

    return EntityFilter(allow=names("allow"), disallow=names("disallow") or frozenset())


def metrics(ctx: _Checks, value: Any, key: str = "metrics") -> MetricsConfig:
    entry = ctx.mapping(value, key, _METRICS)
    if "prometheus" not in entry:
        raise ctx.error(f"{key}.prometheus", "missing: {host, port} of the /metrics endpoint")
    prom = ctx.mapping(entry["prometheus"] or {}, f"{key}.prometheus", _PROMETHEUS)
    port = ctx.number(
        prom.get("port", 9464), f"{key}.prometheus.port", integer=True, positive=False
    )
    if port > 65535:
        raise ctx.error(f"{key}.prometheus.port", f"must be at most 65535, got {port}")
    return MetricsConfig(
        host=ctx.string(prom.get("host", "127.0.0.1"), f"{key}.prometheus.host"), port=port
    )


def dashboard(ctx: _Checks, value: Any, key: str = "dashboard") -> DashboardConfig:
    entry = ctx.mapping(value or {}, key, _DASHBOARD)
    port = ctx.number(entry.get("port", 8080), f"{key}.port", integer=True, positive=False)
    if port > 65535:
        raise ctx.error(f"{key}.port", f"must be at most 65535, got {port}")
    token = entry.get("token")
    return DashboardConfig(
        host=ctx.string(entry.get("host", "127.0.0.1"), f"{key}.host"),
        port=port,
        token=None if token is None else ctx.string(token, f"{key}.token"),
    )
