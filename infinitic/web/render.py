"""Server-rendered HTML of the dashboard. Everything shown goes through `esc`: workflow
arguments, results, tags, meta and errors are user data."""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from .data import STATUSES, with_cause

KINDS = {"task", "workflow", "method", "timer", "receive", "signal", "inline"}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def layout(title: str, body: str, csrf: str, path: str) -> str:
    def tab(href: str, label: str) -> str:
        current = path == href or (href != "/" and path.startswith(href))
        return f'<a href="{href}"{" class=current" if current else ""}>{label}</a>'

    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{esc(csrf)}">
<title>{esc(title)} · infinitic</title>
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/dashboard.js" defer></script>
</head><body>
<header><a class="brand" href="/">infinitic</a><nav>{tab("/", "Overview")}
{tab("/workflows", "Workflows")}</nav><span id="live-state" class="live">live</span></header>
<main id="live">{body}</main>
<footer>infinitic dashboard · refreshes every few seconds</footer>
</body></html>"""


def login(failed: bool = False) -> str:
    note = '<p class="error">That token is not the right one.</p>' if failed else ""
    return f"""<section class="card narrow"><h1>Sign in</h1>{note}
<form method="post" action="/login"><label>Dashboard token
<input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></section>"""


def problem(message: str) -> str:
    return f'<section class="card"><p class="error">{esc(message)}</p></section>'


def badge(status: str) -> str:
    return f'<span class="badge {esc(status)}">{esc(status)}</span>'


def when(iso: str | None) -> str:
    if not iso:
        return "—"
    moment = datetime.fromisoformat(iso)
    return f'<time datetime="{esc(iso)}">{moment.strftime("%Y-%m-%d %H:%M:%S")}</time>'


def _ended(info: dict[str, Any]) -> str:
    if info["status"] == "failed":  # it has not ended: a retry may complete it (DESIGN §3)
        return "not yet: kept until retried or canceled"
    return when(info["ended_at"])


def workflow_href(name: str, workflow_id: str) -> str:
    return f"/workflows/{quote(name, safe='')}/{quote(workflow_id, safe='')}"


def json_block(label: str, value: Any, open_: bool = False) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    short = text if len(text) <= 60 else text[:57] + "…"
    return (
        f"<details class=json{' open' if open_ else ''}><summary>{esc(label)} "
        f"<code>{esc(short)}</code></summary><pre>{esc(text)}</pre></details>"
    )


# -- overview ---------------------------------------------------------------------------


def overview(info: dict[str, Any], pulsar: Any) -> str:
    rows = "".join(
        f'<tr><td><a href="/workflows?{urlencode({"name": name})}">{esc(name)}</a></td>'
        + "".join(
            f'<td class=num><a href="/workflows?{urlencode({"name": name, "status": s})}">'
            f'<span class="count {s if counts[s] else "zero"}">{counts[s]}</span></a></td>'
            for s in STATUSES
        )
        + "</tr>"
        for name, counts in info["counts"].items()
    )
    head = "".join(f"<th class=num>{s}</th>" for s in STATUSES)
    scanned = (
        f'<p class="hint">Counted over the newest {info["scanned"]:,} instances.</p>'
        if info["capped"]
        else ""
    )
    counts = (
        f"<table><thead><tr><th>workflow</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else '<p class="hint">No workflow instance in the storage yet.</p>'
    )
    failures = "".join(
        f'<li><a href="{workflow_href(f["name"], f["id"])}">{esc(f["name"])} '
        f"<code>{esc(f['id'])}</code></a> {when(f['updated_at'])}"
        f"{error_chain(f['error']) if f['error'] else ''}</li>"
        for f in info["latest_failures"]
    )
    return f"""<h1>Overview</h1>
<div class="grid">
<section class="card"><h2>Instances</h2>{counts}{scanned}</section>
<section class="card"><h2>Last hour</h2>{chart(info["chart"])}</section>
</div>
<section class="card"><h2>Latest failures</h2>
{f'<ul class="failures">{failures}</ul>' if failures else '<p class="hint">None.</p>'}
</section>{pulsar_panel(pulsar)}"""


def chart(data: dict[str, Any]) -> str:
    """Completed and failed instances per minute, as an inline SVG bar chart."""
    completed, failed = data["completed"], data["failed"]
    width, height, n = 600, 160, data["minutes"]
    top = max([1, *(c + f for c, f in zip(completed, failed, strict=True))])
    bar = width / n
    bars = []
    for i, (c, f) in enumerate(zip(completed, failed, strict=True)):
        x = i * bar + 1
        hc, hf = (height - 20) * c / top, (height - 20) * f / top
        minute = n - 1 - i
        label = f"{minute} min ago: {c} completed, {f} failed"
        if c:
            bars.append(
                f'<rect class="ok" x="{x:.1f}" y="{height - hc:.1f}" width="{bar - 2:.1f}" '
                f'height="{hc:.1f}"><title>{label}</title></rect>'
            )
        if f:
            bars.append(
                f'<rect class="ko" x="{x:.1f}" y="{height - hc - hf:.1f}" '
                f'width="{bar - 2:.1f}" height="{hf:.1f}"><title>{label}</title></rect>'
            )
    total_c, total_f = sum(completed), sum(failed)
    return f"""<svg class="chart" viewBox="0 0 {width} {height + 18}" role="img"
aria-label="ended instances per minute over the last hour">
<line class="axis" x1="0" y1="{height}" x2="{width}" y2="{height}"/>
<line class="grid" x1="0" y1="20" x2="{width}" y2="20"/>
<text x="0" y="{height + 14}">60 min ago</text>
<text x="{width}" y="{height + 14}" text-anchor="end">now</text>
<text x="0" y="14">{top} per minute</text>{"".join(bars)}</svg>
<p class="legend"><span class="dot ok"></span>{total_c} completed
<span class="dot ko"></span>{total_f} failed</p>"""


def pulsar_panel(pulsar: Any) -> str:
    if pulsar is None:
        return ""
    if isinstance(pulsar, dict):
        body = f'<p class="error">{esc(pulsar.get("error"))}</p>'
    else:
        rows = "".join(
            f"<tr><td><code>{esc(t['topic'])}</code></td><td class=num>{t['backlog']}</td>"
            f"<td class=num>{t['consumers']}</td></tr>"
            for t in pulsar
        )
        body = (
            "<table><thead><tr><th>topic</th><th class=num>backlog</th>"
            f"<th class=num>consumers</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return f'<section class="card"><h2>Pulsar topics</h2>{body}</section>'


# -- list -------------------------------------------------------------------------------


def workflows(listing: dict[str, Any], filters: dict[str, str | None]) -> str:
    options = "".join(
        f'<option value="{s}"{" selected" if filters.get("status") == s else ""}>{s}</option>'
        for s in STATUSES
    )
    rows = "".join(
        f'<tr data-id="{esc(i["id"])}"><td><a href="{workflow_href(i["name"], i["id"])}">'
        f"<code>{esc(i['id'])}</code></a></td><td>{esc(i['name'])}</td>"
        f"<td>{badge(i['status'])}</td><td>{when(i['started_at'])}</td>"
        f"<td>{when(i['updated_at'])}</td>"
        f"<td>{''.join(f'<span class=tag>{esc(t)}</span>' for t in i['tags'])}</td></tr>"
        for i in listing["items"]
    )
    kept = {k: v for k, v in filters.items() if v and k != "cursor"}
    pager = []
    if filters.get("cursor"):
        pager.append(f'<a href="/workflows?{esc(urlencode(kept))}">« newest</a>')
    if listing["next_cursor"]:
        more = urlencode({**kept, "cursor": listing["next_cursor"]})
        pager.append(f'<a href="/workflows?{esc(more)}">older »</a>')
    table = (
        "<table class=list><thead><tr><th>id</th><th>workflow</th><th>status</th>"
        "<th>started (UTC)</th><th>updated (UTC)</th><th>tags</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if rows
        else '<p class="hint">No instance matches.</p>'
    )
    return f"""<h1>Workflows</h1>
<form class="filters" method="get" action="/workflows">
<input name="name" placeholder="workflow name" value="{esc(filters.get("name") or "")}">
<select name="status"><option value="">any status</option>{options}</select>
<input name="tag" placeholder="tag" value="{esc(filters.get("tag") or "")}">
<button type="submit">Filter</button></form>
<section class="card">{table}<p class="pager">{" ".join(pager)}</p></section>"""


# -- one workflow -----------------------------------------------------------------------


def error_chain(error: dict[str, Any] | None) -> str:
    items = []
    while error is not None:
        trace = (
            f"<details><summary>stack trace</summary><pre>{esc(error['stack_trace'])}</pre>"
            "</details>"
            if error.get("stack_trace")
            else ""
        )
        worker = f' <span class="hint">on {esc(error["worker_name"])}</span>'
        items.append(
            f'<li><strong class="error-name">{esc(error["name"])}</strong>: '
            f'<span class="error-message">{esc(error["message"])}</span>{worker}{trace}</li>'
        )
        error = error.get("cause")
    return f'<ol class="error-chain">{"".join(items)}</ol>'


def _duration(command: dict[str, Any]) -> str:
    start, end = command.get("dispatched_at"), command.get("completed_at")
    if not start or not end:
        return "—"
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _command(c: dict[str, Any]) -> str:
    kind = c["kind"] if c["kind"] in KINDS else "other"
    ident = f"<code>{esc(c['id'])}</code>"
    if c["kind"] == "workflow" and c["target"]:
        ident = f'<a href="{workflow_href(c["target"].rsplit(".", 1)[0], c["id"])}">{ident}</a>'
    parts = [json_block("arguments", c["args"])] if c["args"] is not None else []
    if c["result"] is not None:
        parts.append(json_block("result", c["result"]))
    if c["error"] is not None:
        parts.append(error_chain(c["error"]))
    due = f" due {when(c['due_at'])}" if c.get("due_at") else ""
    retries = f'<span class="retries">retried {c["retries"]}×</span>' if c["retries"] else ""
    return f"""<li class="command {kind} {esc(c["status"])}">
<div class="line"><span class="pos">#{c["position"]}</span><span class="kind">{esc(c["kind"])}</span>
<span class="target">{esc(c["target"])}</span>{ident}{badge(c["status"])}
<span class="duration">{_duration(c)}</span>{retries}{due}</div>{"".join(parts)}</li>"""


def _run(run: dict[str, Any], main: bool) -> str:
    parent = ""
    if run.get("parent_workflow_id"):
        href = workflow_href(run["parent_workflow_name"], run["parent_workflow_id"])
        parent = (
            f'<p class="parent">dispatched by <a href="{href}">{esc(run["parent_workflow_name"])}'
            f" <code>{esc(run['parent_workflow_id'])}</code></a></p>"
        )
    outcome = ""
    if run["status"] == "completed":
        outcome = json_block("result", run["result"], open_=True)
    if run["error"] is not None:
        outcome = f"<h4>Error</h4>{error_chain(with_cause(run['error'], run['commands']))}"
    commands = "".join(_command(c) for c in run["commands"])
    return f"""<section class="card run"><h3>{esc(run["method"])}
<span class="hint">{"main run" if main else "method run"} <code>{esc(run["id"])}</code></span>
{badge(run["status"])}</h3>{parent}
<p class="hint">started {when(run["started_at"])}</p>{json_block("arguments", run["args"])}
<ol class="timeline">{commands or '<li class="hint">no command yet</li>'}</ol>{outcome}</section>"""


def workflow(info: dict[str, Any]) -> str:
    tags = "".join(f"<span class=tag>{esc(t)}</span>" for t in info["tags"]) or "—"
    meta = "".join(
        f"<dt>{esc(k)}</dt><dd><code>{esc(v)}</code></dd>" for k, v in info["meta"].items()
    )
    runs = "".join(_run(run, i == 0) for i, run in enumerate(info["method_runs"]))
    href = workflow_href(info["name"], info["id"])
    return f"""<h1>{esc(info["name"])} <code>{esc(info["id"])}</code> {badge(info["status"])}</h1>
<div class="grid">
<section class="card"><h2>Instance</h2><dl class="facts">
<dt>status</dt><dd class="status">{badge(info["status"])}</dd>
<dt>started</dt><dd>{when(info["started_at"])}</dd>
<dt>updated</dt><dd>{when(info["updated_at"])}</dd>
<dt>ended</dt><dd>{_ended(info)}</dd>
<dt>tags</dt><dd>{tags}</dd>{meta}</dl></section>
{actions(href)}
</div>{runs}"""


def actions(href: str) -> str:
    def button(action: str, label: str, question: str) -> str:
        return (
            f'<button type="button" data-action="{action}" data-confirm="{esc(question)}">'
            f"{label}</button>"
        )

    return f"""<section class="card actions" data-href="/api{esc(href)}"><h2>Actions</h2>
<div class="buttons">
{button("retry-tasks", "Retry failed tasks", "Run its failed tasks again?")}
{button("retry-workflow-task", "Retry workflow task", "Run its failed workflow task again?")}
{button("complete-timers", "Complete timers", "Complete its running timers now?")}
{button("cancel", "Cancel", "Cancel this instance (and its children)?")}
</div>
<form class="signal" data-action="signal" data-confirm="Send this signal?">
<label>channel <input name="channel" required placeholder="channel attribute"></label>
<label>value (JSON) <textarea name="value" rows="2" required>null</textarea></label>
<button type="submit">Send signal</button></form>
<p class="outcome" role="status" aria-live="polite"></p></section>"""
