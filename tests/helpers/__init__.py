"""What many test modules share: starting a worker (workers.py) and the kernels (kernels.py)."""

from tests.helpers.workers import (
    SERVICES,
    WORKFLOWS,
    config,
    running_worker,
    service,
    started,
    workflow_worker,
)

__all__ = [
    "SERVICES",
    "WORKFLOWS",
    "config",
    "running_worker",
    "service",
    "started",
    "workflow_worker",
]
