"""The history of a workflow instance as a versioned JSON document, and back.

`history_of(state)` is what `infinitic.testing.replay` checks new code against, what
`WorkflowEnvironment.history` returns and what `infinitic workflow describe --json` embeds under
`history`. Payloads (arguments, results, signals, properties) are embedded as the JSON values they
are; task meta values, which are bytes, as base64. The format is described in docs/testing.md;
readers accept every version up to `VERSION` and refuse newer ones by name.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson

from .messages import ErrorInfo
from .workflow_messages import Command, MethodRun, Step, WorkflowState

FORMAT = "infinitic-workflow-history"
VERSION = 1


class HistoryError(ValueError):
    """A document that is not a history this version can read; the message names where."""


def history_of(state: WorkflowState) -> dict[str, Any]:
    """The JSON-ready history of `state` (a dict of str, numbers, lists, dicts and None)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "workflow": {
            "name": state.workflow_name,
            "id": state.workflow_id,
            "status": state.status,
            "tags": sorted(state.tags),
            "meta": _meta_out(state.meta),
            "created_at": state.created_at,
            "updated_at": state.updated_at,
        },
        "event_index": state.event_index,
        "properties": _json(state.properties),
        "props_store": {k: _json(v) for k, v in sorted(state.props_store.items())},
        "method_runs": [_run_out(run) for run in state.method_runs],
    }


def state_of(history: Mapping[str, Any]) -> WorkflowState:
    """The state a history describes, enough to replay its method runs (HistoryError if not)."""
    doc = _Doc(history, "history")
    fmt = doc.get("format", str)
    if fmt != FORMAT:
        raise HistoryError(f"history: format is {fmt!r}, expected {FORMAT!r}")
    version = doc.get("version", int)
    if not 1 <= version <= VERSION:
        raise HistoryError(
            f"history: version {version} is not readable by this infinitic (reads 1 to {VERSION})"
        )
    wf = doc.sub("workflow")
    return WorkflowState(
        workflow_id=wf.get("id", str),
        workflow_name=wf.get("name", str),
        tags=frozenset(wf.get("tags", list, [])),
        meta=_meta_in(wf.get("meta", dict, {}), f"{wf.path}.meta"),
        status=wf.get("status", str, "running"),
        properties=_bytes(doc.raw("properties")),
        props_store={k: _bytes(v) for k, v in doc.get("props_store", dict, {}).items()},
        method_runs=[_run_in(r) for r in doc.items("method_runs")],
        event_index=doc.get("event_index", int),
        created_at=wf.get("created_at", float, 0.0),
        updated_at=wf.get("updated_at", float, 0.0),
    )


def target_of(kind: str, name: str, method: str) -> str:
    """How a command's target reads: `Service.method`, a channel or workflow name, or the kind."""
    return f"{name}.{method}" if method else (name or kind)


# -- out --------------------------------------------------------------------------------------


def _json(data: bytes) -> Any:
    return orjson.loads(data) if data else None


def _meta_out(meta: Mapping[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode("ascii") for k, v in sorted(meta.items())}


def error_dict(error: ErrorInfo | None) -> dict[str, Any] | None:
    """An ErrorInfo (and the errors it holds, such as its cause) as a JSON-ready dict."""
    if error is None:
        return None
    out: dict[str, Any] = {}
    for f in dataclasses.fields(error):
        value = getattr(error, f.name)
        out[f.name] = error_dict(value) if isinstance(value, ErrorInfo) else value
    return out


def _run_out(run: MethodRun) -> dict[str, Any]:
    parent = None
    if run.parent_workflow_id:
        parent = {
            "workflow_id": run.parent_workflow_id,
            "workflow_name": run.parent_workflow_name,
            "method_run_id": run.parent_method_run_id,
        }
    return {
        "id": run.method_run_id,
        "method": run.method_name,
        "args": _json(run.args),
        "status": run.status,
        "result": _json(run.result),
        "error": error_dict(run.error),
        "parent": parent,
        "created_at": run.created_at,
        "start_index": run.start_index,
        "props_at_start": run.props_at_start,
        "commands": [_command_out(c) for c in run.commands],
        "steps": [_step_out(s) for s in run.steps],
    }


def _command_out(c: Command) -> dict[str, Any]:
    return {
        "position": c.position,
        "kind": c.kind,
        "target": target_of(c.kind, c.name, c.method),
        "name": c.name,
        "method": c.method,
        "id": c.command_id,
        "args": _json(c.args),
        "args_hash": c.args_hash,
        "tags": sorted(c.tags),
        "meta": _meta_out(c.meta),
        "target_id": c.target_id,
        "target_tag": c.target_tag,
        "status": c.status,
        "result": _json(c.result),
        "error": error_dict(c.error),
        "completed_at": c.completed_at,
        "due_at": c.due_at,
        "deadline": c.deadline,
        "limit": c.limit,
        "filter": _json(c.filter),
        "retry_sequence": c.retry_sequence,
    }


def _step_out(s: Step) -> dict[str, Any]:
    return {
        "position": s.position,
        "signature": s.signature,
        "tree": _json(s.tree),
        "terminated_at": s.terminated_at,
        "props_hash": s.props_hash,
    }


# -- in ---------------------------------------------------------------------------------------


def _bytes(value: Any) -> bytes:
    return b"" if value is None else orjson.dumps(value)


def _meta_in(meta: Mapping[str, Any], path: str) -> dict[str, bytes]:
    out = {}
    for key, value in meta.items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True)
        except ValueError:  # binascii.Error is one
            raise HistoryError(f"{path}.{key}: a meta value is base64, got {value!r}") from None
    return out


class _Doc:
    """A mapping read with errors that name the path of what is missing or mistyped."""

    _MISSING = object()

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise HistoryError(f"{path}: expected a JSON object, got {type(data).__name__}")
        self.data = data
        self.path = path

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def get(self, key: str, kind: type, default: Any = _MISSING) -> Any:
        value = self.data.get(key, self._MISSING)
        if value is self._MISSING or (value is None and default is not self._MISSING):
            if default is self._MISSING:
                raise HistoryError(f"{self.path}.{key}: missing")
            return default
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise HistoryError(
                f"{self.path}.{key}: expected {kind.__name__}, got {type(value).__name__}"
            )
        return value

    def sub(self, key: str) -> _Doc:
        return _Doc(self.get(key, dict), f"{self.path}.{key}")

    def items(self, key: str) -> list[_Doc]:
        return [_Doc(v, f"{self.path}.{key}[{i}]") for i, v in enumerate(self.get(key, list, []))]


def _error_in(value: Any, path: str) -> ErrorInfo | None:
    if value is None:
        return None
    doc = _Doc(value, path)
    known = {f.name for f in dataclasses.fields(ErrorInfo)}
    fields: dict[str, Any] = {}
    for key, raw in doc.data.items():
        if key not in known:
            continue
        nested = isinstance(raw, Mapping) and "stack_trace" in raw
        fields[key] = _error_in(raw, f"{path}.{key}") if nested else raw
    try:
        return ErrorInfo(**fields)
    except TypeError as exc:
        raise HistoryError(f"{path}: not an error: {exc}") from None


def _run_in(doc: _Doc) -> MethodRun:
    parent = doc.raw("parent") or {}
    return MethodRun(
        method_run_id=doc.get("id", str),
        method_name=doc.get("method", str),
        args=_bytes(doc.get("args", list, [])),
        status=doc.get("status", str, "running"),
        result=_bytes(doc.raw("result")),
        error=_error_in(doc.raw("error"), f"{doc.path}.error"),
        parent_workflow_id=parent.get("workflow_id"),
        parent_workflow_name=parent.get("workflow_name"),
        parent_method_run_id=parent.get("method_run_id"),
        commands=[_command_in(c) for c in doc.items("commands")],
        steps=[_step_in(s) for s in doc.items("steps")],
        props_at_start=doc.get("props_at_start", str, ""),
        start_index=doc.get("start_index", int, -1),
        created_at=doc.get("created_at", float, 0.0),
    )


def _command_in(doc: _Doc) -> Command:
    args = doc.raw("args")
    return Command(
        command_id=doc.get("id", str),
        position=doc.get("position", int),
        kind=doc.get("kind", str),
        name=doc.get("name", str, ""),
        method=doc.get("method", str, ""),
        args=b"" if args is None else orjson.dumps(args),
        args_hash=doc.get("args_hash", str, ""),
        tags=frozenset(doc.get("tags", list, [])),
        meta=_meta_in(doc.get("meta", dict, {}), f"{doc.path}.meta"),
        target_id=doc.raw("target_id"),
        target_tag=doc.raw("target_tag"),
        status=doc.get("status", str, "ongoing"),
        result=_bytes(doc.raw("result")),
        error=_error_in(doc.raw("error"), f"{doc.path}.error"),
        completed_at=doc.get("completed_at", int, -1),
        due_at=doc.get("due_at", float, 0.0),
        deadline=doc.get("deadline", float, 0.0),
        limit=doc.get("limit", int, 1),
        filter=_bytes(doc.raw("filter")),
        retry_sequence=doc.get("retry_sequence", int, 0),
    )


def _step_in(doc: _Doc) -> Step:
    return Step(
        position=doc.get("position", int),
        signature=doc.get("signature", str),
        tree=orjson.dumps(doc.get("tree", list)),
        terminated_at=doc.get("terminated_at", int, -1),
        props_hash=doc.get("props_hash", str, ""),
    )
