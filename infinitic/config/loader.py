"""Loads a worker config from YAML or a dict; every error names the file, the key and the fix."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import yaml

from .._core.backoff import ExponentialBackoff
from ..common.serialization import DEFAULT_MAX_PAYLOAD_BYTES
from ..errors import ConfigError
from . import observability
from .model import BatchConfig, RetryConfig, ServiceConfig, WorkerConfig, WorkflowConfig
from .secrets import mask_text
from .substitution import substitute

T = TypeVar("T")
P = ParamSpec("P")

_TOP = {
    "name",
    "transport",
    "storage",
    "services",
    "workflows",
    "shutdownGracePeriodSeconds",
    "maxPayloadBytes",
    "tuneGarbageCollector",
    "eventListener",
    "metrics",
    "dashboard",
}
_SERVICE = {
    "name",
    "class",
    "concurrency",
    "timeoutInSeconds",
    "timeoutSeconds",
    "retry",
    "batch",
}
_WORKFLOW = {
    "name",
    "class",
    "classes",
    "concurrency",
    "timeoutInSeconds",
    "timeoutSeconds",
    "checkMode",
    "retentionSeconds",
    "stateCacheSize",
    "redriveAfterSeconds",
    "tombstoneSeconds",
    "batch",
}
_RETRY = {
    "minimumSeconds": "minimum_seconds",
    "maximumSeconds": "maximum_seconds",
    "backoffCoefficient": "backoff_coefficient",
    "randomFactor": "random_factor",
    "maximumRetries": "maximum_retries",
    "ignoredExceptions": "ignored_exceptions",
}
_TRANSPORTS = {"inMemory", "sqlite", "pulsar"}
_STORAGES = {"inMemory", "sqlite", "redis", "mysql"}
_CHECK_MODES = {"none", "simple", "strict"}


class _Ctx:
    """Validation state of one config: every error is collected, so a file with several
    mistakes reports them all at once (`check` records the error of one part and goes on)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[ConfigError] = []

    def error(self, key: str, problem: str) -> ConfigError:
        # a value shown in `problem` may be a URL with a password in it
        return ConfigError(mask_text(f"{self.source}: {key or 'the top level'}: {problem}"))

    def check(self, default: T, build: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`build(*args, **kwargs)`, or `default` once its ConfigError is recorded."""
        try:
            return build(*args, **kwargs)
        except ConfigError as exc:
            self.problems.extend(_each(exc))
            return default

    def raise_problems(self) -> None:
        raise_all(self.problems, self.source)

    def mapping(self, value: Any, key: str, allowed: set[str]) -> Mapping[str, Any]:
        """`value` if it is a mapping; its unknown keys are recorded (and left out)."""
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
                self.problems.append(
                    self.error(f"{key}.{k}" if key else str(k), f"unknown key; {fix}")
                )
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


def raise_all(problems: list[ConfigError], source: str) -> None:
    """Raises one ConfigError for every problem of a config: a single one as it is, several
    as "<file>: <n> errors" and one "<key>: <problem>" per line (each also in `.errors`)."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        prefix = f"{source}: "
        lines = [str(e).removeprefix(prefix) for e in problems]
        raise ConfigError(
            f"{source}: {len(lines)} errors\n" + "\n".join(f"  {line}" for line in lines),
            errors=[str(e) for e in problems],
        )


def load_config_file(path: str | os.PathLike[str]) -> WorkerConfig:
    """Loads a YAML file; `${VAR}` and `${VAR:-default}` in its values come from the
    environment (see docs/configuration.md)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the config file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    ctx = _Ctx(source)
    data = substitute(data if data is not None else {}, ctx.problems, source)
    if ctx.problems:
        ctx.raise_problems()
    return load_config(data, source=source)


def load_config(data: Mapping[str, Any] | WorkerConfig, source: str = "<dict>") -> WorkerConfig:
    """The validated config; a ConfigError lists every error found (`.errors`, one per key)."""
    if isinstance(data, WorkerConfig):
        return data
    ctx = _Ctx(source)
    top = ctx.mapping(data, "", _TOP)
    name = ctx.check("", ctx.string, top.get("name", "infinitic-worker"), "name")
    nothing: tuple[str, dict[str, Any]] = ("inMemory", {})
    transport, transport_options = ctx.check(
        nothing, _backend, ctx, top.get("transport", "inMemory"), "transport", _TRANSPORTS
    )
    storage, storage_options = ctx.check(
        nothing, _backend, ctx, top.get("storage", "inMemory"), "storage", _STORAGES
    )
    if transport == "sqlite" and "path" not in transport_options:
        path = ctx.check("", _sqlite_path, ctx, storage, storage_options)
        transport_options = {**transport_options, "path": path}
    services = tuple(
        ctx.check(None, _service, ctx, entry, f"services[{i}]")
        for i, entry in enumerate(ctx.check([], _list, ctx, top, "services"))
    )
    workflows = tuple(
        ctx.check(None, _workflow, ctx, entry, f"workflows[{i}]")
        for i, entry in enumerate(ctx.check([], _list, ctx, top, "workflows"))
    )
    ctx.check(None, _unique, ctx, [s.name for s in services if s], "services")
    ctx.check(None, _unique, ctx, [w.name for w in workflows if w], "workflows")
    grace = ctx.check(
        5.0,
        ctx.number,
        top.get("shutdownGracePeriodSeconds", 5.0),
        "shutdownGracePeriodSeconds",
        positive=False,
    )
    limit = top.get("maxPayloadBytes")
    if limit is None:
        limit = DEFAULT_MAX_PAYLOAD_BYTES
    else:
        limit = ctx.check(
            DEFAULT_MAX_PAYLOAD_BYTES, ctx.number, limit, "maxPayloadBytes", integer=True
        )
    tune_gc = top.get("tuneGarbageCollector", True)
    if not isinstance(tune_gc, bool):
        ctx.problems.append(
            ctx.error("tuneGarbageCollector", f"expected true or false, got {tune_gc!r}")
        )
        tune_gc = True
    event_listener = (
        ctx.check(None, observability.event_listener, ctx, top["eventListener"])
        if top.get("eventListener") is not None
        else None
    )
    metrics = (
        ctx.check(None, observability.metrics, ctx, top["metrics"])
        if top.get("metrics") is not None
        else None
    )
    dashboard = (
        ctx.check(None, observability.dashboard, ctx, top["dashboard"])
        if "dashboard" in top
        else None
    )
    ctx.raise_problems()
    config = WorkerConfig(
        name=name,
        transport=transport,
        transport_options=transport_options,
        storage=storage,
        storage_options=storage_options,
        services=tuple(s for s in services if s is not None),
        workflows=tuple(w for w in workflows if w is not None),
        shutdown_grace_period_seconds=float(grace),
        max_payload_bytes=int(limit),
        tune_garbage_collector=tune_gc,
        event_listener=event_listener,
        metrics=metrics,
        dashboard=dashboard,
        source=source,
    )
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


def _sqlite_path(ctx: _Ctx, storage: str, storage_options: Mapping[str, Any]) -> str:
    """`transport: sqlite` without a path shares the SQLite state's file."""
    if storage == "sqlite" and isinstance(storage_options.get("path"), str):
        return str(storage_options["path"])
    raise ctx.error(
        "transport.sqlite.path",
        "missing: the SQLite file that carries the messages (it may be the state's file, "
        "which `transport: sqlite` uses when the storage is sqlite)",
    )


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


def _name(ctx: _Ctx, entry: Mapping[str, Any], key: str, what: str) -> str:
    if "name" not in entry:
        raise ctx.error(f"{key}.name", f"missing: {what}")
    return ctx.string(entry["name"], f"{key}.name")


def _batch(ctx: _Ctx, value: Any, key: str) -> BatchConfig | None:
    if value is None:
        return None
    entry = ctx.mapping(value, key, {"maxMessages", "maxSeconds"})
    for needed in ("maxMessages", "maxSeconds"):
        if needed not in entry:
            raise ctx.error(f"{key}.{needed}", "missing: a batch needs maxMessages and maxSeconds")
    return BatchConfig(
        max_messages=ctx.number(entry["maxMessages"], f"{key}.maxMessages", integer=True),
        max_seconds=float(ctx.number(entry["maxSeconds"], f"{key}.maxSeconds")),
    )


def _class(ctx: _Ctx, entry: Mapping[str, Any], key: str) -> str | None:
    return ctx.string(entry["class"], f"{key}.class") if "class" in entry else None


def _classes(ctx: _Ctx, entry: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """`classes:` one implementation per version of a workflow: a list, or one string of paths
    separated by commas, so the versions deployed can come from the environment
    (`classes: ${BOOKING_VERSIONS}`: substitution gives a string, never a list)."""
    classes = entry.get("classes", [])
    if isinstance(classes, str):
        classes = [c.strip() for c in classes.split(",")]
    if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes):
        raise ctx.error(
            f"{key}.classes",
            "expected a list of implementation classes (one per version), or one string of "
            "them separated by commas",
        )
    return tuple(classes)


def _service(ctx: _Ctx, value: Any, key: str) -> ServiceConfig:
    entry = ctx.mapping(value, key, _SERVICE)
    what = "the service's name (its @name, or its interface's qualified name)"
    raw_retry = entry.get("retry")
    return ServiceConfig(
        name=ctx.check("", _name, ctx, entry, key, what),
        class_path=ctx.check(None, _class, ctx, entry, key),
        concurrency=_concurrency(ctx, entry, key),
        timeout_seconds=ctx.check(None, _timeout, ctx, entry, key),
        retry=None
        if raw_retry is None
        else ctx.check(None, _retry, ctx, raw_retry, f"{key}.retry"),
        batch=ctx.check(None, _batch, ctx, entry.get("batch"), f"{key}.batch"),
    )


def _workflow(ctx: _Ctx, value: Any, key: str) -> WorkflowConfig:
    entry = ctx.mapping(value, key, _WORKFLOW)
    mode = entry.get("checkMode", "simple")
    if mode not in _CHECK_MODES:
        ctx.problems.append(
            ctx.error(f"{key}.checkMode", f"must be one of {sorted(_CHECK_MODES)}, got {mode!r}")
        )
    timeout = ctx.check(None, _timeout, ctx, entry, key)
    retention = entry.get("retentionSeconds", 86400.0)
    cache_size = entry.get("stateCacheSize", 10_000)
    redrive_after = entry.get("redriveAfterSeconds", 60.0)
    tombstone = entry.get("tombstoneSeconds", 604800.0)
    return WorkflowConfig(
        name=ctx.check("", _name, ctx, entry, key, "the workflow's name"),
        class_path=ctx.check(None, _class, ctx, entry, key),
        class_paths=ctx.check((), _classes, ctx, entry, key),
        concurrency=_concurrency(ctx, entry, key),
        timeout_seconds=60.0 if timeout is None else timeout,
        check_mode=mode,
        retention_seconds=float(
            ctx.check(86400.0, ctx.number, retention, f"{key}.retentionSeconds")
        ),
        state_cache_size=ctx.check(
            10_000, ctx.number, cache_size, f"{key}.stateCacheSize", integer=True, positive=False
        ),
        redrive_after_seconds=float(
            ctx.check(60.0, ctx.number, redrive_after, f"{key}.redriveAfterSeconds")
        ),
        tombstone_seconds=float(
            ctx.check(604800.0, ctx.number, tombstone, f"{key}.tombstoneSeconds", positive=False)
        ),
        batch=ctx.check(None, _batch, ctx, entry.get("batch"), f"{key}.batch"),
    )


def _concurrency(ctx: _Ctx, entry: Mapping[str, Any], key: str) -> int:
    value = entry.get("concurrency", 1)
    return int(ctx.check(1, ctx.number, value, f"{key}.concurrency", integer=True))


def _retry(ctx: _Ctx, value: Any, key: str) -> RetryConfig:
    entry = ctx.mapping(value, key, set(_RETRY))
    kwargs: dict[str, Any] = {}
    wrong = False
    for yaml_key, attr in _RETRY.items():
        if yaml_key in entry:
            try:
                kwargs[attr] = _retry_value(ctx, entry, key, yaml_key)
            except ConfigError as exc:
                ctx.problems.append(exc)
                wrong = True
    if wrong:
        raise _Recorded("")  # a field is wrong: the policy as a whole is not checked
    if "minimum_seconds" in kwargs and "maximum_seconds" not in kwargs:
        kwargs["maximum_seconds"] = 1000 * kwargs["minimum_seconds"]
    config = RetryConfig(**kwargs)
    try:
        # the kernel's own checks, which name the key; the worker builds the policy it keeps
        ExponentialBackoff(**dataclasses.asdict(config))
    except ValueError as exc:
        raise ctx.error(key, str(exc)) from None
    return config


def _retry_value(ctx: _Ctx, entry: Mapping[str, Any], key: str, yaml_key: str) -> Any:
    raw = entry[yaml_key]
    if yaml_key == "ignoredExceptions":
        if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
            raise ctx.error(f"{key}.{yaml_key}", "expected a list of qualified exception names")
        return tuple(raw)
    if yaml_key == "maximumRetries":
        return ctx.number(raw, f"{key}.{yaml_key}", integer=True, positive=False)
    return float(ctx.number(raw, f"{key}.{yaml_key}", positive=False))


class _Recorded(ConfigError):
    """Raised where the errors are already recorded: nothing more to report."""


def _each(exc: ConfigError) -> list[ConfigError]:
    return [] if isinstance(exc, _Recorded) else [exc]
