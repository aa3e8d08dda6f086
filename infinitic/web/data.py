"""What the dashboard shows, read through the client's describe/list API (as the CLI does).

Every function returns JSON-ready values: the pages render them, the `/api/` routes return them.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import orjson

from ..client import operations

if TYPE_CHECKING:
    from ..client import InfiniticClient, WorkflowSummary

STATUSES = ("running", "failed", "completed", "canceled")
ACTIONS = (*operations.ACTIONS, "signal")
# the overview counts the newest instances of the index, up to this many (pages of 1,000)
SCAN_LIMIT = 10_000
LATEST_FAILURES = 5
CHART_MINUTES = 60


class BadRequest(ValueError):
    """A request the dashboard refuses; the message says what was wrong."""


def list_page(
    client: InfiniticClient,
    name: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    try:
        page = client.list_workflows(name=name, status=status, tag=tag, limit=limit, cursor=cursor)
    except ValueError as exc:  # a bad cursor or limit
        raise BadRequest(str(exc)) from None
    return {"items": [item.to_json() for item in page.items], "next_cursor": page.next_cursor}


def describe(client: InfiniticClient, name: str, workflow_id: str) -> dict[str, Any] | None:
    info = client.describe_workflow(name, workflow_id)
    return None if info is None else info.to_json()


def _scan(client: InfiniticClient) -> tuple[list[WorkflowSummary], bool]:
    items: list[WorkflowSummary] = []
    cursor: str | None = None
    while len(items) < SCAN_LIMIT:
        page = client.list_workflows(limit=1000, cursor=cursor)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items, False
    return items, True


def overview(client: InfiniticClient, now: float | None = None) -> dict[str, Any]:
    """Counts per workflow name and status, ends per minute over the last hour, and the latest
    failures with their error (from the newest SCAN_LIMIT instances of the index)."""
    now = time.time() if now is None else now
    items, capped = _scan(client)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    completed = [0] * CHART_MINUTES
    failed = [0] * CHART_MINUTES
    failures: list[WorkflowSummary] = []
    for item in items:
        counts[item.name][item.status.value] += 1
        age = int((now - item.updated_at.timestamp()) // 60)
        if item.status.value == "failed":
            failures.append(item)
        if 0 <= age < CHART_MINUTES:
            if item.status.value == "completed":
                completed[CHART_MINUTES - 1 - age] += 1
            elif item.status.value == "failed":
                failed[CHART_MINUTES - 1 - age] += 1
    failures.sort(key=lambda i: i.updated_at, reverse=True)
    latest = []
    for item in failures[:LATEST_FAILURES]:
        info = client.describe_workflow(item.name, item.id)
        error = None if info is None else _first_error(info.to_json())
        latest.append({**item.to_json(), "error": error})
    return {
        "counts": {n: {s: c[s] for s in STATUSES} for n, c in sorted(counts.items())},
        "chart": {
            "minutes": CHART_MINUTES,
            "end": datetime.fromtimestamp(now, timezone.utc).isoformat(),
            "completed": completed,
            "failed": failed,
        },
        "latest_failures": latest,
        "scanned": len(items),
        "capped": capped,
    }


def with_cause(error: dict[str, Any], commands: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's error, caused by the error of the command that failed it (a task's, a child's):
    the engine records them apart; the dashboard shows one chain."""
    if error.get("cause") is not None:
        return error
    failed = [c for c in commands if c["error"] is not None and c["id"] in error["message"]]
    return {**error, "cause": failed[-1]["error"]} if failed else error


def _first_error(info: dict[str, Any]) -> dict[str, Any] | None:
    """The error that failed the instance: its main run's, else its first failed command's."""
    for run in info["method_runs"]:
        if run["error"] is not None:
            return with_cause(run["error"], run["commands"])
        for command in run["commands"]:
            if command["error"] is not None:
                return command["error"]  # type: ignore[no-any-return]
    return None


def act(client: InfiniticClient, name: str, workflow_id: str, action: str, body: bytes) -> str:
    """Sends `action` to the instance; returns what was done, in words."""
    if action not in ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if action != "signal":
        operations.act(client, action, name, workflow_id)
        return f"{action}: sent to {name} {workflow_id}"
    try:
        request = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not JSON: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("channel"), str):
        raise BadRequest('a signal needs a JSON body {"channel": "<name>", "value": <JSON>}')
    channel = request["channel"]
    if not channel or not channel.isidentifier():
        raise BadRequest(f"the channel must be the name of a channel attribute, not {channel!r}")
    operations.send_signal(client, name, workflow_id, channel, request.get("value"))
    return f"signal: sent to {name} {workflow_id} on channel {channel}"
