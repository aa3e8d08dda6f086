"""infinitic: workflow orchestration for Python (services, workflows as code, Apache Pulsar)."""

import logging as _logging

from .client import InfiniticClient
from .errors import (
    CanceledError,
    ConfigError,
    EnvelopeError,
    SerializationError,
    TaskFailedError,
    TimeoutError,
    UnknownWorkflowError,
    WorkflowFailedError,
    WorkflowUpdatedError,
)
from .service import (
    TaskContext,
    WithRetry,
    WithTimeout,
    batch,
    delegated,
    name,
    retry,
    task,
    timeout,
)
from .worker import InfiniticWorker
from .workflow import Channel, Deferred, DeferredStatus, Workflow, all_of, any_of

__version__ = "0.1.0"

# a library logs, the application decides where: nothing is printed unless it configures logging
_logging.getLogger("infinitic").addHandler(_logging.NullHandler())

__all__ = [
    "CanceledError",
    "Channel",
    "Deferred",
    "DeferredStatus",
    "Workflow",
    "all_of",
    "any_of",
    "batch",
    "delegated",
    "ConfigError",
    "EnvelopeError",
    "InfiniticClient",
    "InfiniticWorker",
    "SerializationError",
    "TaskContext",
    "TaskFailedError",
    "TimeoutError",
    "UnknownWorkflowError",
    "WithRetry",
    "WithTimeout",
    "WorkflowFailedError",
    "WorkflowUpdatedError",
    "name",
    "retry",
    "task",
    "timeout",
]
