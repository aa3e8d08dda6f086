"""Every public exception of infinitic, and ErrorInfo: the remote failure chain they carry."""

from __future__ import annotations

import builtins
import sys
from dataclasses import dataclass
from typing import Any

from ._core._errors import EnvelopeError

__all__ = [
    "CanceledError",
    "ConfigError",
    "EnvelopeError",
    "ErrorInfo",
    "InfiniticError",
    "InvalidInlineError",
    "PulsarAdminError",
    "PulsarAuthenticationError",
    "PulsarConnectionError",
    "PulsarTlsError",
    "PulsarTransportError",
    "SerializationError",
    "StorageError",
    "TaskFailedError",
    "TimeoutError",
    "UnknownTaskError",
    "UnknownWorkflowError",
    "VersionConflictError",
    "WorkflowFailedError",
    "WorkflowUpdatedError",
]


def resolve_exception(name: str) -> type[BaseException] | None:
    """The exception class of a qualified name ("pkg.module.Outer.Error", builtins bare) if
    its module is in sys.modules, else None."""
    parts = name.split(".")
    for split in range(len(parts) - 1, -1, -1):
        module = sys.modules.get(".".join(parts[:split])) if split else builtins
        if module is None:
            continue
        found: object = module
        for attribute in parts[split:]:
            found = getattr(found, attribute, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            return found
        return None
    return None


@dataclass(slots=True)
class ErrorInfo:
    """An exception as seen by the other side: Infinitic's ExecutionError / TaskFailure.

    The `last_error` of TaskFailedError and WorkflowFailedError; it travels in messages too
    (common/messages.py registers it with the envelope codec)."""

    worker_name: str
    name: str
    message: str
    stack_trace: str
    cause: ErrorInfo | None = None

    @property
    def exception_type(self) -> type[BaseException] | None:
        """The class named `name`, when this process has imported its module already (else
        None): `issubclass(err.last_error.exception_type, CardDeclined)` matches a remote
        exception by type, subclasses included. Nothing is imported on behalf of a message."""
        return resolve_exception(self.name)

    def get_custom_property(self, name: str) -> Any:
        """The remote exception's public attribute `name` (as JSON data), None if it had none."""
        return None

    @property
    def previous_error(self) -> ErrorInfo | None:
        """The failure of the attempt before this one (a task retried automatically), if any."""
        return None


class InfiniticError(Exception):
    """Base class of the errors raised by infinitic (EnvelopeError excepted: it is a ValueError)."""


class ConfigError(InfiniticError, ValueError):
    """A configuration that cannot be used; the message names the file, the key and the fix.

    `errors` lists each error of the file on its own ("<file>: <key>: <problem>"): a config
    with several mistakes reports them all at once."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors if errors is not None else [message]


class SerializationError(InfiniticError, TypeError):
    """A value that cannot be encoded to, or decoded from, a JSON payload."""


class TaskFailedError(InfiniticError):
    """A task failed after its last attempt; `last_error` holds the remote error chain."""

    def __init__(self, service_name: str, task_name: str, task_id: str, last_error: ErrorInfo):
        self.service_name = service_name
        self.task_name = task_name
        self.task_id = task_id
        self.last_error = last_error
        super().__init__(
            f"task {service_name}.{task_name} ({task_id}) failed: "
            f"{last_error.name}: {last_error.message}"
        )


class UnknownTaskError(InfiniticError):
    """A task id that no worker or client knows about."""


class WorkflowFailedError(InfiniticError):
    """A workflow method failed. `last_error` is the failure that ended it (`name`: the error
    type, such as infinitic.errors.TaskFailedError, or the workflow code's own exception), each
    `.cause` the failure under it, down to the task's own exception."""

    def __init__(
        self,
        message: str,
        *,
        last_error: ErrorInfo | None = None,
        workflow_name: str | None = None,
        workflow_id: str | None = None,
        method_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.last_error = last_error
        self.workflow_name = workflow_name
        self.workflow_id = workflow_id
        self.method_name = method_name


class CanceledError(InfiniticError):
    """The awaited task or workflow was canceled (`workflow_name` / `workflow_id` name a
    canceled workflow, when that is what it was)."""

    def __init__(
        self, message: str, *, workflow_name: str | None = None, workflow_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.workflow_name = workflow_name
        self.workflow_id = workflow_id


class TimeoutError(InfiniticError, builtins.TimeoutError):  # noqa: A001 - mirrors Infinitic's name
    """A deadline passed before the awaited result arrived. Also a builtins.TimeoutError."""


class InvalidInlineError(InfiniticError):
    """An inline step tried to dispatch, call a stub, start a timer, receive or await."""


class WorkflowUpdatedError(InfiniticError):
    """Replay found a command that differs from the workflow's history (a non-deterministic change)."""


class UnknownWorkflowError(InfiniticError):
    """No workflow instance with this id (or tag) exists."""

    def __init__(
        self, message: str, *, workflow_name: str | None = None, workflow_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.workflow_name = workflow_name
        self.workflow_id = workflow_id


class StorageError(InfiniticError):
    """A storage backend could not complete an operation."""


class VersionConflictError(StorageError):
    """A compare-and-set write found another version than the one it expected."""


# The Pulsar transport's errors (`infinitic.transport.pulsar` raises them): here, so that code
# catching them imports neither the transport nor the `pulsar` extra. Each names the URL and
# the setting to check, never a credential.


class PulsarTransportError(InfiniticError):
    """Pulsar refused an operation (the message names which, never a credential)."""


class PulsarConnectionError(PulsarTransportError):
    """The broker (binary protocol or admin REST API) could not be reached or talked to."""


class PulsarAuthenticationError(PulsarConnectionError):
    """The broker refused the configured credentials ("authentication failed")."""


class PulsarTlsError(PulsarConnectionError):
    """The TLS handshake failed: the broker's certificate is not trusted, or TLS is misconfigured."""


class PulsarAdminError(PulsarConnectionError):
    """The admin REST API refused a request or could not be reached."""
