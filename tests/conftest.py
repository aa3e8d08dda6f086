"""Shared fixtures: each _core kernel is tested in its compiled and pure-Python form."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

REQUIRE_EXTENSIONS = os.environ.get("INFINITIC_REQUIRE_EXTENSIONS", "") not in ("", "0")
NO_EXTENSIONS = os.environ.get("INFINITIC_NO_EXTENSIONS", "") not in ("", "0")
# every answer of the engine's waiting index is checked against the full evaluation, also in
# the worker processes the tests start (they inherit the environment)
os.environ.setdefault("INFINITIC_VERIFY_WAITING", "1")
# and every step of a live method run against a replay from the start (executors/live_runs.py)
os.environ.setdefault("INFINITIC_VERIFY_LIVE_RUNS", "1")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-c-extensions",
        action="store_true",
        default=False,
        help="skip the tests of the compiled (Cython) implementations",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not (config.getoption("--no-c-extensions") or NO_EXTENSIONS):
        return
    skip = pytest.mark.skip(reason="compiled implementations disabled")
    for item in items:
        if "c_extension" in item.keywords:
            item.add_marker(skip)


def core_module(kernel: str, flavour: str) -> ModuleType:
    """`infinitic._core._<kernel>_<flavour>`; a missing compiled module fails under REQUIRE."""
    name = f"infinitic._core._{kernel}_{flavour}"
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if flavour == "c" and not REQUIRE_EXTENSIONS:
            pytest.skip(f"{name} is not compiled ({exc})")
        raise


IMPLEMENTATIONS = [
    pytest.param("py", id="py"),
    pytest.param("c", id="c", marks=pytest.mark.c_extension),
]


@pytest.fixture(autouse=True)
def _fresh_sample_state() -> None:
    """The sample services keep module-level state (runs seen, a gate, barriers): reset it."""
    from tests import sample_services, sample_workflows

    sample_services.RUNS.clear()
    sample_services.BARRIER.clear()
    sample_services.GATE.clear()
    sample_workflows.GATES.clear()


@pytest.fixture(params=IMPLEMENTATIONS)
def envelope_impl(request: pytest.FixtureRequest) -> ModuleType:
    return core_module("envelope", request.param)


@pytest.fixture(params=IMPLEMENTATIONS)
def backoff_impl(request: pytest.FixtureRequest) -> ModuleType:
    return core_module("backoff", request.param)


@pytest.fixture(params=IMPLEMENTATIONS)
def replay_impl(request: pytest.FixtureRequest) -> ModuleType:
    return core_module("replay", request.param)


# real servers: started once per session when a test asks for them (see each module)
from tests.pulsar_server import pulsar_transport, pulsar_urls  # noqa: E402, F401
from tests.storage.mysql_fixtures import (  # noqa: E402, F401
    mysql_endpoint,
    mysql_private_server,
    mysql_server,
)
from tests.storage.redis_server import redis_server, redis_server_factory  # noqa: E402, F401
