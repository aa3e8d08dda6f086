"""Shared fixtures: each _core kernel is tested in its compiled and pure-Python form."""

from __future__ import annotations

import os

import pytest

from tests.helpers.kernels import (
    IMPLEMENTATIONS,
    BackoffKernel,
    EnvelopeKernel,
    ReplayKernel,
    compiled_missing,
    load,
)

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
        help="deselect the tests of the compiled (Cython) implementations",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The compiled flavour's items are deselected, not skipped, when the compiled kernels are
    disabled (--no-c-extensions, INFINITIC_NO_EXTENSIONS) or not built: a run on the twins
    reports what it ran, and no skip hides a kernel that should have loaded."""
    if not config.getoption("--no-c-extensions") and compiled_missing() is None:
        return
    compiled = [item for item in items if "c_extension" in item.keywords]
    if compiled:
        config.hook.pytest_deselected(items=compiled)
        items[:] = [item for item in items if "c_extension" not in item.keywords]


@pytest.fixture(autouse=True)
def _fresh_sample_state() -> None:
    """The sample services keep module-level state (runs seen, a gate, barriers): reset it."""
    from tests import sample_services, sample_workflows

    sample_services.RUNS.clear()
    sample_services.BARRIER.clear()
    sample_services.GATE.clear()
    sample_workflows.GATES.clear()
    sample_workflows.FOREVER.clear()


# each kernel once per flavour for the whole session (a module is stateless: nothing to reset)
@pytest.fixture(scope="session", params=IMPLEMENTATIONS)
def envelope_impl(request: pytest.FixtureRequest) -> EnvelopeKernel:
    return load("envelope", request.param)


@pytest.fixture(scope="session", params=IMPLEMENTATIONS)
def backoff_impl(request: pytest.FixtureRequest) -> BackoffKernel:
    return load("backoff", request.param)


@pytest.fixture(scope="session", params=IMPLEMENTATIONS)
def replay_impl(request: pytest.FixtureRequest) -> ReplayKernel:
    return load("replay", request.param)


# real servers: started once per session when a test asks for them (see each module)
from tests.pulsar_server import pulsar_transport, pulsar_urls  # noqa: E402, F401
from tests.storage.mysql_fixtures import (  # noqa: E402, F401
    mysql_endpoint,
    mysql_private_server,
    mysql_server,
)
from tests.storage.redis_server import redis_server, redis_server_factory  # noqa: E402, F401
