"""The `data` of each event: the ids, names, arguments, results and errors Infinitic puts there.

Builders run off the hot path (listener.py), on the messages and the values the taps kept;
JSON payloads (arguments, results, signals) are decoded here, so `data` is plain JSON values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import orjson

from ..common import messages as m
from ..common import workflow_messages as w


def _version() -> str:
    try:
        return metadata.version("infinitic")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


VERSION = _version()  # data.infiniticVersion


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # not ours to judge here: the engine reports bad payloads


def _decoded(raw: Any) -> Any:
    """A message kept as its envelope bytes (the records hold bytes, not objects, while they
    wait for the listener: see record.py), decoded again; anything else as it is."""
    return m.decode(raw) if type(raw) is bytes else raw


def build(name: str, arg: Any) -> dict[str, Any]:
    """The data of an event: the builder of that name (a function of this module) on `arg`."""
    builder = _BUILDERS[name]
    return builder(arg)


def _meta(meta: dict[str, bytes]) -> dict[str, str]:
    return {k: v.decode("utf-8", "replace") for k, v in meta.items()}


def error(info: m.ErrorInfo | None) -> dict[str, Any] | None:
    """An ErrorInfo as JSON, with its chain of causes."""
    if info is None:
        return None
    return {
        "name": info.name,
        "message": info.message,
        "stackTrace": info.stack_trace,
        "workerName": info.worker_name,
        "cause": error(info.cause),
    }


def _instant(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _requester(msg: m.ExecuteTask) -> dict[str, Any]:
    if msg.workflow_id:
        return {
            "workflowName": msg.workflow_name,
            "workflowId": msg.workflow_id,
            "methodId": msg.method_run_id,
        }
    client = msg.reply_to.split(":", 1)[-1] if msg.reply_to else None
    return {"clientName": client}


# -- infinitic.task.* ------------------------------------------------------------------------


def _task(msg: m.ExecuteTask) -> dict[str, Any]:
    return {
        "retrySequence": msg.retry_sequence,
        "retryIndex": msg.retry_index,
        "serviceName": msg.service_name,
        "taskName": msg.task_name,
        "taskMeta": _meta(msg.meta),
        "taskTags": sorted(msg.tags),
        "infiniticVersion": VERSION,
    }


def task_dispatch(raw: Any) -> dict[str, Any]:
    msg: m.ExecuteTask = _decoded(raw)
    return {"taskArgs": _json(msg.args), "requester": _requester(msg), **_task(msg)}


def task_started(arg: tuple[bytes, str]) -> dict[str, Any]:
    raw, worker = arg
    msg: m.ExecuteTask = _decoded(raw)
    return {**_task(msg), "workerName": worker}


def task_retry_scheduled(arg: tuple[bytes, float, str]) -> dict[str, Any]:
    raw, delay, worker = arg
    msg: m.ExecuteTask = _decoded(raw)
    data = _task(msg)
    data["retryIndex"] = msg.retry_index - 1  # the attempt that failed
    return {
        "failure": error(msg.last_error),
        "secondsBeforeRetry": delay,
        **data,
        "workerName": worker,
    }


def _task_outcome(msg: m.TaskCompleted | m.TaskFailed, worker: str) -> dict[str, Any]:
    return {
        "serviceName": msg.service_name,
        "taskName": msg.task_name,
        "taskMeta": _meta(msg.meta),
        "workerName": worker,
        "infiniticVersion": VERSION,
    }


def task_completed(arg: tuple[bytes, str]) -> dict[str, Any]:
    raw, worker = arg
    msg: m.TaskCompleted = _decoded(raw)
    return {"output": _json(msg.result), **_task_outcome(msg, worker)}


def task_failed(arg: tuple[bytes, str]) -> dict[str, Any]:
    raw, worker = arg
    msg: m.TaskFailed = _decoded(raw)
    return {"failure": error(msg.error), **_task_outcome(msg, worker)}


# -- infinitic.workflow.* --------------------------------------------------------------------
# infinitic.workflow.* events nest their detail under the suffix, as Infinitic does


def workflow(arg: tuple[str, str, str | None, str | None, str, Any, Any]) -> dict[str, Any]:
    """`arg`: (suffix, workflow name, method run id, method name, worker, builder, detail):
    the detail is `build(builder, detail)` when a builder is named, else `detail` itself."""
    suffix, name, method_id, method_name, worker, builder, detail = arg
    data: dict[str, Any] = {}
    if builder is not None:
        data[suffix] = build(builder, detail)
    elif detail is not None:
        data[suffix] = detail
    if method_id is not None:
        data["methodId"] = method_id
        data["methodName"] = method_name
    data["workflowName"] = name
    data["workerName"] = worker
    data["infiniticVersion"] = VERSION
    return data


def dispatch(raw: Any) -> dict[str, Any]:
    msg: w.DispatchWorkflow = _decoded(raw)
    return {
        "workflowMeta": _meta(msg.meta),
        "workflowTags": sorted(msg.tags),
        "methodName": msg.method_name,
        "methodArgs": _json(msg.args),
        "requester": _parent(msg),
    }


def dispatch_method(raw: Any) -> dict[str, Any]:
    msg: w.DispatchMethod = _decoded(raw)
    return {
        "methodArgs": _json(msg.args),
        "methodName": msg.method_name,
        "methodId": msg.method_run_id,
        "requester": _parent(msg),
    }


def _parent(msg: w.DispatchWorkflow | w.DispatchMethod) -> dict[str, Any]:
    if msg.parent_workflow_id:
        return {
            "workflowName": msg.parent_workflow_name,
            "workflowId": msg.parent_workflow_id,
            "methodId": msg.parent_method_run_id,
        }
    return {"clientName": msg.reply_to.split(":", 1)[-1] if msg.reply_to else None}


def remote_dispatched(raw: Any) -> dict[str, Any]:
    msg: w.DispatchWorkflow | w.DispatchMethod = _decoded(raw)
    data: dict[str, Any] = {
        "workflowName": msg.workflow_name,
        "workflowId": msg.workflow_id,
        "methodName": msg.method_name,
        "methodArgs": _json(msg.args),
    }
    if isinstance(msg, w.DispatchWorkflow):
        data["methodId"] = msg.workflow_id  # a new instance's main run has the instance's id
        data["workflowTags"] = sorted(msg.tags)
        data["workflowMeta"] = _meta(msg.meta)
    else:
        data["methodId"] = msg.method_run_id
    return data


def remote_outcome(raw: Any) -> dict[str, Any]:
    msg: w.MethodOutcome = _decoded(raw)
    data: dict[str, Any] = {
        "workflowId": msg.workflow_id,
        "workflowName": msg.workflow_name,
        "methodId": msg.method_run_id,
        "methodName": msg.method_name,
    }
    if msg.status == "completed":
        data["output"] = _json(msg.result)
    elif msg.error is not None:
        data["failure"] = error(msg.error)
    return data


def task_dispatched(raw: Any) -> dict[str, Any]:
    msg: m.ExecuteTask = _decoded(raw)
    return {
        "serviceName": msg.service_name,
        "taskName": msg.task_name,
        "taskArgs": _json(msg.args),
        "taskId": msg.task_id,
        "taskMeta": _meta(msg.meta),
        "taskTags": sorted(msg.tags),
        "retrySequence": msg.retry_sequence,
    }


def task_result(raw: Any) -> dict[str, Any]:
    msg: m.TaskCompleted | m.TaskFailed = _decoded(raw)
    data: dict[str, Any] = {
        "taskId": msg.task_id,
        "taskName": msg.task_name,
        "serviceName": msg.service_name,
        "taskMeta": _meta(msg.meta),
    }
    if isinstance(msg, m.TaskCompleted):
        data["output"] = _json(msg.result)
    else:
        data["failure"] = error(msg.error)
    return data


def timed_out(cmd: w.Command) -> dict[str, Any]:
    if cmd.kind == "task":
        return {"taskId": cmd.command_id, "taskName": cmd.method, "serviceName": cmd.name}
    return {
        "workflowId": cmd.target_id or cmd.command_id,
        "workflowName": cmd.name,
        "methodId": cmd.command_id,
        "methodName": cmd.method,
    }


def timer_dispatched(arg: tuple[str, float, float]) -> dict[str, Any]:
    timer_id, due, now = arg
    return {"timerId": timer_id, "timerInstant": _instant(due), "emittedAt": _instant(now)}


def signal_dispatched(raw: Any) -> dict[str, Any]:
    msg: w.SendSignal | w.TagCommand = _decoded(raw)
    data: dict[str, Any] = {
        "signalId": msg.message_id,
        "signalData": _json(msg.signal),
        "channel": msg.channel,
        "workflowName": msg.workflow_name,
    }
    if isinstance(msg, w.TagCommand):
        data["workflowTag"] = msg.tag
    else:
        data["workflowId"] = msg.workflow_id
    return data


def retry_task(raw: Any) -> dict[str, Any]:
    """Which tasks a `retry_tasks` asked for (None: no filter on that field)."""
    msg: w.RetryTasks | w.RetryTasksWhere = _decoded(raw)
    if isinstance(msg, w.RetryTasksWhere):
        status, service = msg.task_status, msg.service_name
    else:
        status = service = None
    return {"taskId": msg.task_id, "taskStatus": status, "serviceName": service}


def signal_received(raw: Any) -> dict[str, Any]:
    msg: w.SendSignal = _decoded(raw)
    return {"signalId": msg.message_id, "channel": msg.channel, "signalData": _json(msg.signal)}


def method_outcome(run: tuple[str, str, str, bytes, m.ErrorInfo | None]) -> dict[str, Any]:
    method_id, method_name, status, result, err = run
    data: dict[str, Any] = {"methodId": method_id, "methodName": method_name}
    if status == "completed":
        data["output"] = _json(result)
    elif status == "failed":
        data["failure"] = error(err)
    return data


def executor_result(arg: tuple[str, str, m.ErrorInfo | None]) -> dict[str, Any]:
    task_id, outcome, failure = arg
    data: dict[str, Any] = {"taskId": task_id, "outcome": outcome}
    if failure is not None:
        data["failure"] = error(failure)
    return data


_BUILDERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    f.__name__: f
    for f in (
        task_dispatch, task_started, task_retry_scheduled, task_completed, task_failed,
        workflow, dispatch, dispatch_method, remote_dispatched, remote_outcome, task_dispatched,
        task_result, timed_out, timer_dispatched, signal_dispatched, retry_task,
        signal_received, method_outcome, executor_result,
    )
}  # fmt: skip
