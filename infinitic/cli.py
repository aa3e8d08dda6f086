"""The `infinitic` command (click): worker, demo, and operating workflows from any process.

    infinitic --version
    infinitic worker -c infinitic.yml
    infinitic demo
    infinitic config schema
    infinitic dashboard -c infinitic.yml [--host 127.0.0.1] [--port 8080]
    infinitic workflow list     -c infinitic.yml [--name N] [--status S] [--tag T] [--limit N] [--json]
    infinitic workflow describe -c infinitic.yml NAME ID [--json]
    infinitic workflow cancel | retry-tasks | retry-workflow-task | complete-timers -c infinitic.yml NAME ID

`list` and `describe` read the configured storage; the actions go through the configured
transport to the workers. docs/operations.md has examples of each.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .client.operations import ACTIONS, act
from .errors import ConfigError, InfiniticError, StorageError

if TYPE_CHECKING:
    from .client import InfiniticClient, WorkflowInfo, WorkflowSummary
    from .storage import Storage

T = TypeVar("T")

STATUSES = ("running", "completed", "failed", "canceled")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (0 ok, 1 failure, 2 usage or config)."""
    verbose = "-v" in (argv if argv is not None else sys.argv[1:]) or "--verbose" in (
        argv if argv is not None else sys.argv[1:]
    )
    try:
        result = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("infinitic: aborted", err=True)
        return 1
    except ConfigError as exc:
        return _fail("configuration error", exc, verbose, 2)
    except StorageError as exc:
        return _fail("storage error", exc, verbose, 1)
    except ValueError as exc:  # a bad --cursor, say
        return _fail("invalid value", exc, verbose, 2)
    except InfiniticError as exc:
        broker = type(exc).__name__.startswith("Pulsar")
        return _fail("broker error" if broker else "error", exc, verbose, 1)
    except (ConnectionError, OSError, TimeoutError) as exc:
        return _fail("infrastructure error", exc, verbose, 1)
    except Exception as exc:  # noqa: BLE001 - a broker client's own errors (pulsar.*)
        if type(exc).__module__.split(".")[0] not in ("pulsar", "_pulsar", "redis", "MySQLdb"):
            raise
        return _fail(f"{type(exc).__module__.split('.')[0]} error", exc, verbose, 1)
    return result if isinstance(result, int) else 0


def _fail(what: str, exc: BaseException, verbose: bool, code: int) -> int:
    if verbose:
        logging.getLogger("infinitic.cli").error("%s", what, exc_info=exc)
    click.echo(f"infinitic: {what}: {exc}", err=True)
    return code


def _version() -> str:
    from . import __version__
    from ._core import kernels_summary

    return f"infinitic {__version__} (Python {sys.version.split()[0]}; {kernels_summary()})"


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(_version())
        ctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="log at DEBUG level; tracebacks on errors")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="show the version and which kernels are in use, then exit",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """infinitic: workflows as code, on an embedded default or Apache Pulsar."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    # the demo narrates failures itself; elsewhere a failed task is worth a warning
    quiet = ctx.invoked_subcommand == "demo"
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


CONFIG = click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="the YAML config (the worker's: transport and storage are read from it)",
)
JSON = click.option("--json", "as_json", is_flag=True, help="print JSON, for scripts")


@cli.command()
@CONFIG
def worker(config_path: str) -> int:
    """Run a worker from a YAML config until interrupted (SIGINT / SIGTERM)."""
    # classes in the config are found from the current directory, as uvicorn and celery do
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    from .worker import InfiniticWorker

    running = InfiniticWorker.from_config_file(config_path)
    services = ", ".join(s.name for s in running.config.services) or "none"
    running.run(
        lambda: click.echo(
            f"infinitic: worker {running.name} started, services: {services} (Ctrl-C to stop)",
            err=True,
        )
    )
    return 0


@cli.command()
def demo() -> int:
    """Run a sample service on the embedded default and show what happens."""
    from .demo import run_demo

    return run_demo(time.perf_counter)


@cli.command()
@CONFIG
@click.option(
    "--host", help="address to bind (default: the config's dashboard.host, else 127.0.0.1)"
)
@click.option(
    "--port", type=click.IntRange(0, 65535), help="port (default: dashboard.port, else 8080)"
)
def dashboard(config_path: str, host: str | None, port: int | None) -> int:
    """Serve the dashboard (docs/dashboard.md): reads the storage, acts through the transport."""
    from .config import load_config_file

    try:
        import uvicorn

        from .web import create_app
        from .worker.dashboard import pulsar_stats_of
    except ImportError:
        raise click.UsageError(
            "the dashboard needs the dashboard extra: pip install 'infinitic[dashboard]'"
        ) from None
    cfg = load_config_file(config_path)
    if cfg.transport == "inMemory":
        raise click.UsageError(
            f"the transport of {config_path} is inMemory: it exists only inside the worker's "
            "process. Add `dashboard: {host, port}` to the worker's config to serve the "
            "dashboard from inside the worker, or use a transport processes share."
        )
    if cfg.storage == "inMemory":
        raise click.UsageError(
            f"the dashboard reads the storage, and the storage of {config_path} is inMemory: "
            "it lives inside the worker's process. Add `dashboard: {host, port}` to the "
            "worker's config to serve it from inside the worker, or configure sqlite, redis "
            "or mysql."
        )
    entry = cfg.dashboard
    client = _client(config_path)
    with client:
        bind = host or (entry.host if entry is not None else "127.0.0.1")
        app = create_app(
            client,
            token=entry.token if entry is not None else None,
            topic_stats=pulsar_stats_of(cfg.transport, cfg.transport_options),
            bind=bind,
        )
        listen = port if port is not None else (entry.port if entry is not None else 8080)
        click.echo(f"infinitic: dashboard on http://{bind}:{listen}/ (Ctrl-C to stop)", err=True)
        uvicorn.run(app, host=bind, port=listen, log_level="warning", lifespan="off")
    return 0


@cli.group()
def config() -> None:
    """About config files."""


@config.command()
def schema() -> int:
    """Print the JSON Schema of a worker config file (for editors' completion)."""
    from .config.schema import config_schema

    click.echo(json.dumps(config_schema(), indent=2))
    return 0


@cli.group()
def workflow() -> None:
    """List, describe and steer workflow instances (from any process)."""


def _client(config_path: str) -> InfiniticClient:
    """A client on the config's transport (the actions)."""
    from .client import InfiniticClient

    return InfiniticClient.from_config_file(config_path)


def _read(config_path: str, command: str, read: Callable[[Storage], Awaitable[T]]) -> T:
    """Runs `read(storage)` on the config's storage alone: reading needs no transport."""
    from .config import load_config_file
    from .storage import create_storage

    cfg = load_config_file(config_path)
    if cfg.storage == "inMemory":
        raise click.UsageError(
            f"`workflow {command}` reads the storage, and the storage of {config_path} is "
            "inMemory: it lives inside the worker's process and no other process can read it. "
            "Configure sqlite, redis or mysql, or call worker.client.describe_workflow / "
            "list_workflows from the worker's process."
        )
    storage = create_storage(
        {cfg.storage: cfg.storage_options} if cfg.storage_options else cfg.storage
    )

    async def run() -> T:
        await storage.start()
        try:
            return await read(storage)
        finally:
            await storage.close()

    return asyncio.run(run())


@workflow.command("list")
@CONFIG
@click.option("--name", help="only instances of this workflow")
@click.option("--status", type=click.Choice(STATUSES), help="only instances with this status")
@click.option("--tag", help="only instances with this tag")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--cursor", help="the next_cursor a previous page printed")
@JSON
def list_(
    config_path: str,
    name: str | None,
    status: str | None,
    tag: str | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> int:
    """List instances, newest first (reads the storage)."""
    from .client.describe import list_in
    from .storage.index import IndexQuery

    query = IndexQuery.of(name, status, tag, limit, cursor)
    page = _read(config_path, "list", lambda storage: list_in(storage, query))
    if as_json:
        items = [item.to_json() for item in page.items]
        click.echo(json.dumps({"items": items, "next_cursor": page.next_cursor}, indent=2))
        return 0
    click.echo(_table(page.items))
    if page.next_cursor is not None:
        click.echo(f"(more: --cursor {page.next_cursor})")
    return 0


@workflow.command()
@CONFIG
@click.argument("name")
@click.argument("workflow_id", metavar="ID")
@JSON
def describe(config_path: str, name: str, workflow_id: str, as_json: bool) -> int:
    """Describe one instance: status, times, method runs and their commands."""
    from .client.describe import describe_in

    info = _read(config_path, "describe", lambda storage: describe_in(storage, name, workflow_id))
    if info is None:
        click.echo(
            f"infinitic: no {name} instance {workflow_id} in the storage (never started, or "
            "ended beyond its retention)",
            err=True,
        )
        return 1
    if as_json:
        click.echo(json.dumps(info.to_json(), indent=2))
    else:
        click.echo(_details(info))
    return 0


def _action(action: str, help_text: str) -> None:
    @workflow.command(action, help=f"{help_text[0].upper()}{help_text[1:]}.")
    @CONFIG
    @click.argument("name")
    @click.argument("workflow_id", metavar="ID")
    def command(config_path: str, name: str, workflow_id: str) -> int:
        from .config import load_config_file

        cfg = load_config_file(config_path)
        if cfg.transport == "inMemory":
            click.echo(
                f"infinitic: `workflow {action}` cannot reach the worker: the transport of "
                f"{config_path} is inMemory, which exists only inside the worker's own process. "
                f"Use a transport shared by processes (pulsar) in the config, or call "
                f"worker.client.{action.replace('-', '_')}(stub) from the worker's process.",
                err=True,
            )
            return 2
        with _client(config_path) as client:
            act(client, action, name, workflow_id)
        click.echo(f"{action}: sent to {name} {workflow_id}")
        return 0


for _name, _help in ACTIONS.items():
    _action(_name, _help)


# --- human output --------------------------------------------------------------------------


def _when(moment: Any) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _table(items: Sequence[WorkflowSummary]) -> str:
    if not items:
        return "no workflow instance matches"
    rows = [("ID", "NAME", "STATUS", "STARTED (UTC)", "UPDATED (UTC)", "TAGS")]
    for item in items:
        rows.append(
            (
                item.id,
                item.name,
                item.status.value,
                _when(item.started_at),
                _when(item.updated_at),
                ",".join(sorted(item.tags)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def _details(info: WorkflowInfo) -> str:
    lines = [
        f"{info.name} {info.id}: {info.status.value}",
        f"  started {_when(info.started_at)}  updated {_when(info.updated_at)}"
        + (f"  ended {_when(info.ended_at)}" if info.ended_at else "")
        + " (UTC)"
        + ("  not ended: kept until retried or canceled" if info.status == "failed" else ""),
        f"  tags: {', '.join(sorted(info.tags)) or '-'}",
    ]
    if info.meta:
        lines.append(f"  meta: {', '.join(sorted(info.meta))}")
    for run in info.method_runs:
        lines.append(f"  method run {run.id}: {run.method}({_short(run.args)[1:-1]}) {run.status}")
        if run.status == "completed":
            lines.append(f"    result: {_short(run.result)}")
        error = run.error
        depth = 0
        while error is not None:
            lines.append(
                f"    {'caused by: ' if depth else 'error: '}{error.name}: {error.message}"
            )
            error, depth = error.cause, depth + 1
        for c in run.commands:
            outcome = ""
            if c.error is not None:
                outcome = f"  {c.error.name}: {c.error.message}"
            elif c.status == "completed" and c.result is not None:
                outcome = f"  -> {_short(c.result, 40)}"
            retries = f"  (retried {c.retries}x)" if c.retries else ""
            target = f" {c.target}" if c.target else ""
            lines.append(f"    #{c.position} {c.kind}{target} {c.id} {c.status}{outcome}{retries}")
    return "\n".join(lines)
