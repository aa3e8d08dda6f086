"""The CloudEvents listener: Infinitic's `infinitic.task.*` and `infinitic.workflow.*` events,
derived from what a worker's transport carries and its engines decide (docs/operations.md)."""

from .listener import CloudEventListener
from .types import ALL_TYPES, TASK_TYPES, WORKFLOW_TYPES

__all__ = ["ALL_TYPES", "TASK_TYPES", "WORKFLOW_TYPES", "CloudEventListener"]
