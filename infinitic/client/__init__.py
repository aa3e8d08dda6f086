"""The client: start tasks and workflows, wait for results, describe and list instances."""

from .client import InfiniticClient
from .describe import (
    CommandInfo,
    MethodRunInfo,
    WorkflowInfo,
    WorkflowPage,
    WorkflowStatus,
    WorkflowSummary,
)
from .handles import TaskHandle

__all__ = [
    "CommandInfo",
    "InfiniticClient",
    "MethodRunInfo",
    "TaskHandle",
    "WorkflowInfo",
    "WorkflowPage",
    "WorkflowStatus",
    "WorkflowSummary",
]
