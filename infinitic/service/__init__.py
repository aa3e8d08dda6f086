"""Services: decorators, the WithTimeout/WithRetry protocols, policy resolution and the task context."""

from .context import TaskContext, task
from .decorators import batch, delegated, name, retry, timeout
from .policies import WithRetry, WithTimeout

__all__ = [
    "TaskContext",
    "WithRetry",
    "WithTimeout",
    "batch",
    "delegated",
    "name",
    "retry",
    "task",
    "timeout",
]
