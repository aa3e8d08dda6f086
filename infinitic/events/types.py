"""The CloudEvents `type` names, Infinitic 0.18's: `infinitic.task.*` and `infinitic.workflow.*`."""

from __future__ import annotations

TASK = "infinitic.task."
WORKFLOW = "infinitic.workflow."

TASK_DISPATCH = TASK + "dispatch"
TASK_STARTED = TASK + "started"
TASK_COMPLETED = TASK + "completed"
TASK_FAILED = TASK + "failed"
TASK_RETRY_SCHEDULED = TASK + "retryScheduled"
TASK_DELEGATION_COMPLETED = TASK + "delegationCompleted"

TASK_TYPES = (
    TASK_DISPATCH,
    TASK_STARTED,
    TASK_COMPLETED,
    TASK_FAILED,
    TASK_RETRY_SCHEDULED,
    TASK_DELEGATION_COMPLETED,
)

# suffixes of infinitic.workflow.*, in the order of docs/operations.md
WORKFLOW_SUFFIXES = (
    "dispatch",
    "dispatchMethod",
    "cancel",
    "retryTask",
    "retryExecutor",
    "signal",
    "started",
    "completed",
    "failed",
    "canceled",
    "methodCompleted",
    "methodFailed",
    "methodCanceled",
    "methodTimedOut",
    "taskDispatched",
    "taskCompleted",
    "taskFailed",
    "taskTimedOut",
    "remoteMethodDispatched",
    "remoteMethodCompleted",
    "remoteMethodFailed",
    "remoteMethodCanceled",
    "remoteMethodTimedOut",
    "timerDispatched",
    "timerCompleted",
    "signalDispatched",
    "signalReceived",
    "signalDiscarded",
    "executorDispatched",
    "executorCompleted",
    "executorFailed",
)
WORKFLOW_TYPES = tuple(WORKFLOW + s for s in WORKFLOW_SUFFIXES)

ALL_TYPES = TASK_TYPES + WORKFLOW_TYPES
