"""Imports the classes a config names, with errors that name the key and the fix."""

from __future__ import annotations

import importlib
from typing import Any

from ..config.model import ServiceConfig, WorkerConfig, WorkflowConfig
from ..errors import ConfigError
from ..executors.task import ServiceRegistration
from ..executors.workflow_task import WorkflowRegistration
from ..service.policies import FixedTimeout
from ..service.spec import describe
from ..workflow import Workflow


def import_class(path: str, key: str, source: str) -> type:
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ConfigError(
            f"{source}: {key}: {path!r} is not a class path; write 'package.module.Class'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{source}: {key}: cannot import module {module_name!r} ({exc}); "
            "check the path and that the module is on PYTHONPATH"
        ) from None
    try:
        value: Any = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{source}: {key}: module {module_name!r} has no {attr!r}") from None
    if not isinstance(value, type):
        raise ConfigError(f"{source}: {key}: {path!r} is a {type(value).__name__}, not a class")
    return value


def service_registration(
    entry: ServiceConfig, index: int, config: WorkerConfig
) -> ServiceRegistration:
    key = f"services[{index}].class"
    assert entry.class_path is not None
    cls = import_class(entry.class_path, key, config.source)
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
            retry=entry.retry.policy() if entry.retry else None,
        )
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: services[{index}].name: {exc}") from None
    return registration


def workflow_registration(
    entry: WorkflowConfig, index: int, config: WorkerConfig
) -> WorkflowRegistration:
    key = f"workflows[{index}].class"
    assert entry.class_path is not None
    cls = import_class(entry.class_path, key, config.source)
    if not issubclass(cls, Workflow):
        raise ConfigError(
            f"{config.source}: {key}: {entry.class_path} is not a workflow: "
            "it must subclass infinitic.Workflow"
        )
    try:
        return WorkflowRegistration(
            implementation=cls,
            name=entry.name,
            concurrency=entry.concurrency,
            timeout_seconds=entry.timeout_seconds,
            check_mode=entry.check_mode,
        )
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: workflows[{index}].name: {exc}") from None
