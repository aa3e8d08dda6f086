"""Imports the classes a config names, with errors that name the key and the fix."""

from __future__ import annotations

import dataclasses

from .._core.backoff import ExponentialBackoff
from ..common.spec import describe
from ..config.classes import check_implementation, implementations, import_class, is_interface
from ..config.loader import raise_all
from ..config.model import ServiceConfig, WorkerConfig, WorkflowConfig
from ..errors import ConfigError
from ..executors.batches import Batching
from ..executors.task import ServiceRegistration
from ..executors.workflow_task import WorkflowRegistration, workflow_version
from ..service.policies import FixedTimeout
from ..workflow import Workflow


def load_classes(
    config: WorkerConfig,
) -> tuple[list[tuple[WorkflowConfig, WorkflowRegistration | None]], list[ServiceRegistration]]:
    """The registrations of every class the config names; a ConfigError lists every entry
    that cannot be loaded, not only the first."""
    problems: list[ConfigError] = []
    workflows: list[tuple[WorkflowConfig, WorkflowRegistration | None]] = []
    services: list[ServiceRegistration] = []
    for i, workflow in enumerate(config.workflows):
        try:
            loaded = (
                workflow_registration(workflow, i, config)
                if workflow.class_path or workflow.class_paths
                else None
            )
        except ConfigError as exc:
            problems.append(exc)
            continue
        workflows.append((workflow, loaded))
    for i, service in enumerate(config.services):
        if service.class_path is not None:
            try:
                services.append(service_registration(service, i, config))
            except ConfigError as exc:
                problems.append(exc)
    raise_all(problems, config.source)
    return workflows, services


def service_registration(
    entry: ServiceConfig, index: int, config: WorkerConfig
) -> ServiceRegistration:
    key = f"services[{index}].class"
    assert entry.class_path is not None
    cls = import_class(entry.class_path, key, config.source, "service")
    if issubclass(cls, Workflow):
        raise ConfigError(
            f"{config.source}: {key}: {entry.class_path} is a workflow (it subclasses "
            "infinitic.Workflow), not a service: declare it under workflows"
        )
    _check_not_interface(cls, entry.class_path, key, config.source, "service")
    _check_implementation(cls, entry.class_path, key, config.source)
    if not describe(cls).methods:
        raise ConfigError(
            f"{config.source}: {key}: {entry.class_path} has no public method: it is not a service"
        )
    try:
        instance = cls()
    except Exception as exc:  # noqa: BLE001 - any constructor failure is a config problem
        raise ConfigError(
            f"{config.source}: {key}: cannot instantiate {entry.class_path} without arguments: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    try:
        registration = ServiceRegistration(
            implementation=cls,
            instance=instance,
            name=entry.name,
            concurrency=entry.concurrency,
            timeout=FixedTimeout(entry.timeout_seconds) if entry.timeout_seconds else None,
            retry=ExponentialBackoff(**dataclasses.asdict(entry.retry)) if entry.retry else None,
            batching=Batching(entry.batch.max_messages, entry.batch.max_seconds)
            if entry.batch
            else None,
        )
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: services[{index}].name: {exc}") from None
    return registration


def workflow_registration(
    entry: WorkflowConfig, index: int, config: WorkerConfig
) -> WorkflowRegistration:
    paths = ([entry.class_path] if entry.class_path else []) + list(entry.class_paths)
    keys = ([f"workflows[{index}].class"] if entry.class_path else []) + [
        f"workflows[{index}].classes[{i}]" for i in range(len(entry.class_paths))
    ]
    versions: dict[int, type] = {}
    for path, key in zip(paths, keys, strict=True):
        cls = _workflow_class(entry, path, key, config)
        version = workflow_version(cls)
        if version in versions:
            raise ConfigError(
                f"{config.source}: {key}: {path} is version {version} of {entry.name}, like "
                f"{versions[version].__qualname__}: give each version its own `_N` suffix"
            )
        versions[version] = cls
    try:
        return WorkflowRegistration(
            implementation=versions[max(versions)],
            name=entry.name,
            concurrency=entry.handled_at_once,
            timeout_seconds=entry.timeout_seconds,
            check_mode=entry.check_mode,
            versions=versions,
        )
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: workflows[{index}].name: {exc}") from None


def _workflow_class(entry: WorkflowConfig, path: str, key: str, config: WorkerConfig) -> type:
    cls = import_class(path, key, config.source, "workflow")
    if not issubclass(cls, Workflow):
        hint = (
            "; it looks like a service: declare it under services" if describe(cls).methods else ""
        )
        raise ConfigError(
            f"{config.source}: {key}: {path} is not a workflow: "
            f"it must subclass infinitic.Workflow{hint}"
        )
    _check_not_interface(cls, path, key, config.source, "workflow")
    _check_implementation(cls, path, key, config.source)
    return cls


def _check_not_interface(cls: type, path: str, key: str, source: str, role: str) -> None:
    if is_interface(cls, Workflow if role == "workflow" else None):
        found = implementations(cls)
        raise ConfigError(
            f"{source}: {key}: {path} is the {role}'s interface (its methods have no body): "
            f"give the implementation class, e.g. {found[0]!r}"
        )


def _check_implementation(cls: type, path: str, key: str, source: str) -> None:
    spec = describe(cls)
    check_implementation(cls, spec.interface, spec.by_attribute, path, key, source)
