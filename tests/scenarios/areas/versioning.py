"""The versioning scenario's workflow (catalog §N, Infinitic's `VersionedWorkflow` with its
implementations `VersionedWorkflowImpl` (version 0) and `VersionedWorkflowImpl_1` (version 1),
both registered under `classes`)."""

from __future__ import annotations

from infinitic import Workflow


class VersionedWorkflow(Workflow):
    def run(self) -> str: ...


class VersionedWorkflowImpl(VersionedWorkflow):
    def run(self) -> str:
        return _name(type(self))


class VersionedWorkflowImpl_1(VersionedWorkflow):  # noqa: N801 - the `_N` suffix is the version
    def run(self) -> str:
        return _name(type(self))


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


WORKFLOWS = [
    {
        "name": _name(VersionedWorkflow),
        "classes": [_name(VersionedWorkflowImpl), _name(VersionedWorkflowImpl_1)],
    }
]
