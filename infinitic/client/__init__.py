"""The client: start tasks (and, next, workflows) and wait for their results."""

from .client import InfiniticClient
from .handles import TaskHandle

__all__ = ["InfiniticClient", "TaskHandle"]
