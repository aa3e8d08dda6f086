"""Acting on an instance known only by its workflow's name and id: what the CLI and the
dashboard do, without the workflow's interface class (they read names from the storage).

The typed way, with an interface, is the client's own `cancel(stub)`, `retry_tasks(stub)`,
`retry_workflow_task(stub)`, `complete_timers(stub)` and `stub.channel.send(value)`. These
functions send the same messages, and return once the transport has taken them (the CLI
closes its client right after, and says the action was sent).
"""

from __future__ import annotations

import time
from typing import Any

from ..common import messages as m
from ..common import serialization
from ..common import workflow_messages as w
from ..common.ids import new_id
from ..transport.base import Topics
from .client import InfiniticClient

# the CLI's spelling of each action, and what it does (the CLI's help and the dashboard's buttons)
ACTIONS = {
    "cancel": "cancel the instance (a running or a failed one) and its running children",
    "retry-tasks": "run again its failed and timed-out tasks (after a fix of the service)",
    "retry-workflow-task": "run again its failed workflow task (after a fix of the workflow)",
    "complete-timers": "complete its running timers now",
}


def act(client: InfiniticClient, action: str, workflow_name: str, workflow_id: str) -> None:
    """Sends `action` (a key of ACTIONS) to the instance `workflow_id` of `workflow_name`."""
    now = time.time()
    message: Any
    if action == "cancel":
        message = w.CancelWorkflow(new_id(), workflow_id, workflow_name, "canceled", now)
    elif action == "retry-tasks":
        message = w.RetryTasks(new_id(), workflow_id, workflow_name, None, now)
    elif action == "retry-workflow-task":
        message = w.RetryWorkflowTask(new_id(), workflow_id, workflow_name, now)
    elif action == "complete-timers":
        message = w.CompleteTimers(new_id(), workflow_id, workflow_name, now)
    else:
        raise ValueError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    _send(client, workflow_name, workflow_id, message)


def send_signal(
    client: InfiniticClient, workflow_name: str, workflow_id: str, channel: str, value: Any
) -> None:
    """Sends `value` (a JSON value) on `channel` of the instance; raises SerializationError
    when it cannot be encoded, before anything is sent."""
    payload = serialization.dumps(value, f"the signal for channel {channel}")
    message = w.SendSignal(new_id(), workflow_id, workflow_name, channel, payload, time.time())
    _send(client, workflow_name, workflow_id, message)


def _send(client: InfiniticClient, workflow_name: str, workflow_id: str, message: Any) -> None:
    topic = Topics.workflow_engine(workflow_name)
    client._runtime.run(client._transport.send(topic, m.encode(message), key=workflow_id))
