"""The `infinitic` command: `infinitic worker -c infinitic.yml`, `infinitic demo`."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from .errors import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infinitic", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    parser.add_argument(
        "--version", action="store_true", help="print the version and the kernels in use"
    )
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("worker", help="run a worker from a YAML config until interrupted")
    worker.add_argument("-c", "--config", required=True, help="path of the worker's YAML config")
    sub.add_parser(
        "demo", help="run a sample service on the embedded default and show what happens"
    )
    config = sub.add_parser("config", help="about config files")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("schema", help="print the JSON Schema of a worker config file")
    args = parser.parse_args(argv)
    if args.version:
        print(_version())
        return 0
    if args.command is None:
        parser.error("a command is required (worker, demo, config)")
    if args.command == "config":
        return _config_schema()
    logging.basicConfig(
        # the demo narrates failures itself; elsewhere a failed task is worth a warning
        level=logging.DEBUG
        if args.verbose
        else logging.ERROR
        if args.command == "demo"
        else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "worker":
            return _worker(args.config)
        return _demo()
    except ConfigError as exc:
        print(f"infinitic: configuration error: {exc}", file=sys.stderr)
        return 2


def _version() -> str:
    from . import __version__
    from ._core import kernels_summary

    return f"infinitic {__version__} (Python {sys.version.split()[0]}; {kernels_summary()})"


def _worker(path: str) -> int:
    from .worker import InfiniticWorker

    worker = InfiniticWorker.from_config_file(path)
    services = ", ".join(s.name for s in worker.config.services) or "none"
    worker.run(
        lambda: print(
            f"infinitic: worker {worker.name} started, services: {services} (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
    )
    return 0


def _config_schema() -> int:
    import json

    from .config.schema import config_schema

    print(json.dumps(config_schema(), indent=2))
    return 0


def _demo() -> int:
    from .demo import run_demo

    return run_demo(time.perf_counter)
