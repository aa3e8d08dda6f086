"""Loads a worker config from YAML or a dict; every error names the file, the key and the fix."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..common import serialization
from ..errors import ConfigError
from .model import RetryConfig, ServiceConfig, WorkerConfig, WorkflowConfig
from .secrets import mask_text

_TOP = {
    "name",
    "transport",
    "storage",
    "services",
    "workflows",
    "shutdownGracePeriodSeconds",
    "maxPayloadBytes",
}
_SERVICE = {"name", "class", "concurrency", "timeoutInSeconds", "timeoutSeconds", "retry"}
_WORKFLOW = {
    "name",
    "class",
    "concurrency",
    "timeoutInSeconds",
    "timeoutSeconds",
    "checkMode",
    "retentionSeconds",
    "stateCacheSize",
}
_RETRY = {
    "minimumSeconds": "minimum_seconds",
    "maximumSeconds": "maximum_seconds",
    "backoffCoefficient": "backoff_coefficient",
    "randomFactor": "random_factor",
    "maximumRetries": "maximum_retries",
    "ignoredExceptions": "ignored_exceptions",
}
_TRANSPORTS = {"inMemory", "pulsar"}
_STORAGES = {"inMemory", "sqlite", "redis", "mysql"}
_CHECK_MODES = {"none", "simple", "strict"}


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, problem: str) -> ConfigError:
        # a value shown in `problem` may be a URL with a password in it
        return ConfigError(mask_text(f"{self.source}: {key or 'the top level'}: {problem}"))

    def mapping(self, value: Any, key: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            what = "a mapping" if key else "a mapping of worker settings (name, services, ...)"
            raise self.error(key, f"expected {what}, got {type(value).__name__}")
        for k in value:
            if k not in allowed:
                hint = difflib.get_close_matches(str(k), sorted(allowed), n=1)
                fix = (
                    f"did you mean {hint[0]!r}?"
                    if hint
                    else f"allowed keys: {', '.join(sorted(allowed))}"
                )
                raise self.error(f"{key}.{k}" if key else str(k), f"unknown key; {fix}")
        return value

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        return value

    def number(self, value: Any, key: str, *, integer: bool = False, positive: bool = True) -> Any:
        """A number > 0 (`positive`), else >= 0: no setting here means anything when negative."""
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            what = "an integer" if integer else "a number"
            raise self.error(key, f"expected {what}, got {value!r}")
        if value != value:
            raise self.error(key, "expected a number, got NaN")
        if positive and not value > 0:
            raise self.error(key, f"must be greater than 0, got {value!r}")
        if not positive and value < 0:
            raise self.error(key, f"must be 0 or more, got {value!r}")
        return value


def load_config_file(path: str | os.PathLike[str]) -> WorkerConfig:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the config file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    return load_config(data if data is not None else {}, source=source)


def load_config(data: Mapping[str, Any] | WorkerConfig, source: str = "<dict>") -> WorkerConfig:
    if isinstance(data, WorkerConfig):
        return data
    ctx = _Ctx(source)
    top = ctx.mapping(data, "", _TOP)
    name = ctx.string(top.get("name", "infinitic-worker"), "name")
    transport, transport_options = _backend(
        ctx, top.get("transport", "inMemory"), "transport", _TRANSPORTS
    )
    storage, storage_options = _backend(ctx, top.get("storage", "inMemory"), "storage", _STORAGES)
    services = tuple(
        _service(ctx, entry, f"services[{i}]")
        for i, entry in enumerate(_list(ctx, top, "services"))
    )
    workflows = tuple(
        _workflow(ctx, entry, f"workflows[{i}]")
        for i, entry in enumerate(_list(ctx, top, "workflows"))
    )
    _unique(ctx, [s.name for s in services], "services")
    _unique(ctx, [w.name for w in workflows], "workflows")
    grace = top.get("shutdownGracePeriodSeconds", 5.0)
    limit = top.get("maxPayloadBytes")
    if limit is not None:
        ctx.number(limit, "maxPayloadBytes", integer=True)
    config = WorkerConfig(
        name=name,
        transport=transport,
        transport_options=transport_options,
        storage=storage,
        storage_options=storage_options,
        services=services,
        workflows=workflows,
        shutdown_grace_period_seconds=float(
            ctx.number(grace, "shutdownGracePeriodSeconds", positive=False)
        ),
        source=source,
    )
    if limit is not None:
        # process-wide, set once the whole config is valid: the clients and executors of one
        # process share the serialization layer
        serialization.set_max_payload_bytes(limit)
    return config


def _backend(ctx: _Ctx, value: Any, key: str, allowed: set[str]) -> tuple[str, dict[str, Any]]:
    if isinstance(value, str):
        kind, options = value, {}
    elif isinstance(value, Mapping) and len(value) == 1:
        kind, raw = next(iter(value.items()))
        if raw is not None and not isinstance(raw, Mapping):
            raise ctx.error(f"{key}.{kind}", f"expected a mapping of options, got {raw!r}")
        options = dict(raw or {})
    else:
        raise ctx.error(
            key, f"expected one of {sorted(allowed)} (a name, or a mapping with one key)"
        )
    if kind not in allowed:
        hint = difflib.get_close_matches(str(kind), sorted(allowed), n=1)
        fix = f"did you mean {hint[0]!r}?" if hint else f"use one of {sorted(allowed)}"
        raise ctx.error(key, f"unknown {key} {kind!r}; {fix}")
    return kind, options


def _list(ctx: _Ctx, top: Mapping[str, Any], key: str) -> list[Any]:
    value = top.get(key) or []
    if not isinstance(value, list):
        raise ctx.error(key, f"expected a list, got {type(value).__name__}")
    return value


def _unique(ctx: _Ctx, names: list[str], key: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ctx.error(key, f"{name!r} is declared twice")
        seen.add(name)


def _timeout(ctx: _Ctx, entry: Mapping[str, Any], key: str) -> float | None:
    for k in ("timeoutInSeconds", "timeoutSeconds"):
        if entry.get(k) is not None:
            return float(ctx.number(entry[k], f"{key}.{k}"))
    return None


def _service(ctx: _Ctx, value: Any, key: str) -> ServiceConfig:
    entry = ctx.mapping(value, key, _SERVICE)
    if "name" not in entry:
        raise ctx.error(
            f"{key}.name",
            "missing: the service's name (its @name, or its interface's qualified name)",
        )
    retry = _retry(ctx, entry["retry"], f"{key}.retry") if entry.get("retry") is not None else None
    return ServiceConfig(
        name=ctx.string(entry["name"], f"{key}.name"),
        class_path=ctx.string(entry["class"], f"{key}.class") if "class" in entry else None,
        concurrency=ctx.number(entry.get("concurrency", 1), f"{key}.concurrency", integer=True),
        timeout_seconds=_timeout(ctx, entry, key),
        retry=retry,
    )


def _workflow(ctx: _Ctx, value: Any, key: str) -> WorkflowConfig:
    entry = ctx.mapping(value, key, _WORKFLOW)
    if "name" not in entry:
        raise ctx.error(f"{key}.name", "missing: the workflow's name")
    mode = entry.get("checkMode", "simple")
    if mode not in _CHECK_MODES:
        raise ctx.error(f"{key}.checkMode", f"must be one of {sorted(_CHECK_MODES)}, got {mode!r}")
    timeout = _timeout(ctx, entry, key)
    return WorkflowConfig(
        name=ctx.string(entry["name"], f"{key}.name"),
        class_path=ctx.string(entry["class"], f"{key}.class") if "class" in entry else None,
        concurrency=ctx.number(entry.get("concurrency", 1), f"{key}.concurrency", integer=True),
        timeout_seconds=60.0 if timeout is None else timeout,
        check_mode=mode,
        retention_seconds=float(
            ctx.number(entry.get("retentionSeconds", 86400.0), f"{key}.retentionSeconds")
        ),
        state_cache_size=ctx.number(
            entry.get("stateCacheSize", 10_000),
            f"{key}.stateCacheSize",
            integer=True,
            positive=False,
        ),
    )


def _retry(ctx: _Ctx, value: Any, key: str) -> RetryConfig:
    entry = ctx.mapping(value, key, set(_RETRY))
    kwargs: dict[str, Any] = {}
    for yaml_key, attr in _RETRY.items():
        if yaml_key not in entry:
            continue
        raw = entry[yaml_key]
        if attr == "ignored_exceptions":
            if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
                raise ctx.error(f"{key}.{yaml_key}", "expected a list of qualified exception names")
            kwargs[attr] = tuple(raw)
        elif attr == "maximum_retries":
            kwargs[attr] = ctx.number(raw, f"{key}.{yaml_key}", integer=True, positive=False)
        else:
            kwargs[attr] = float(ctx.number(raw, f"{key}.{yaml_key}", positive=False))
    if "minimum_seconds" in kwargs and "maximum_seconds" not in kwargs:
        kwargs["maximum_seconds"] = 1000 * kwargs["minimum_seconds"]
    config = RetryConfig(**kwargs)
    try:
        config.policy()
    except ValueError as exc:
        raise ctx.error(key, str(exc)) from None
    return config
