"""The workflow engine: one instance's state, one message at a time."""

from .engine import WorkflowEngine
from .process import process

__all__ = ["WorkflowEngine", "process"]
