"""The harness of Infinitic's scenarios: every test runs on each home, with one worker and its
client per home for the whole session (like Infinitic's own suite).

Homes: `embedded` (the default: in-memory transport, SQLite state) and `pulsar` (a real Pulsar
broker, Redis state; tests/pulsar_server.py and tests/storage/redis_server.py provide them).
The worker registers `tests.scenarios.shared` and every `tests.scenarios.areas.*` module's
`SERVICES` and `WORKFLOWS`.

Each home also runs every scenario on the `async def` twins of those implementations
(`async_impls.py`): `embedded-async` in every run, `pulsar-async` marked slow.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from infinitic import InfiniticClient, InfiniticWorker
from infinitic.common.workflow_messages import WorkflowState
from tests.scenarios import areas, async_impls, shared
from tests.workflow_probe import Predicate, StateProbe, is_waiting, probe_for

# Infinitic gives each test 30 s; the Pulsar home's first test also pays the topic creation
TEST_TIMEOUT = 60


def register() -> dict[str, list[dict[str, Any]]]:
    """The services and workflows of the shared fixtures and of every area module."""
    services = list(shared.SERVICES)
    workflows = list(shared.WORKFLOWS)
    for info in pkgutil.iter_modules(areas.__path__):
        module = importlib.import_module(f"{areas.__name__}.{info.name}")
        services += getattr(module, "SERVICES", [])
        workflows += getattr(module, "WORKFLOWS", [])
    return {"services": services, "workflows": workflows}


@dataclass
class Home:
    """A running worker, its client, and a probe of the states its engines save; `flavor`
    says which implementations it runs: "sync" or "async" (their `async def` twins)."""

    name: str
    worker: InfiniticWorker
    probe: StateProbe
    flavor: str = "sync"

    def implementation(self, cls: type) -> str:
        """The path of the class this home runs for the implementation `cls`."""
        path = f"{cls.__module__}.{cls.__qualname__}"
        return async_impls.twin_path(path) if self.flavor == "async" else path

    @property
    def client(self) -> InfiniticClient:
        return self.worker.client

    def wait_until(self, workflow_id: str, predicate: Predicate = is_waiting) -> None:
        """Blocks until the instance's saved state satisfies `predicate` (default: it is
        suspended on a step, no workflow task running)."""
        self.probe.wait_until(workflow_id, predicate, timeout=TEST_TIMEOUT)

    def wait_ended(self, workflow_id: str) -> None:
        """Blocks until every method run of the instance ended (Infinitic deletes the state
        then; here it is kept for the retention, DESIGN §3)."""
        self.wait_until(workflow_id, _ended)


T = TypeVar("T")


def eventually(read: Callable[[], T], expected: Callable[[T], bool], timeout: float = 30) -> T:
    """Reads `read()` until `expected` holds of it (for what no event announces, such as the
    tag index), failing with the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if expected(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout}s")
        threading.Event().wait(0.05)


def _ended(state: WorkflowState) -> bool:
    return state.status in ("completed", "canceled") and all(
        run.status != "running" for run in state.method_runs
    )


PULSAR_MARKS = [pytest.mark.pulsar, pytest.mark.redis]
HOMES = [
    pytest.param("embedded", id="embedded"),
    pytest.param("pulsar", id="pulsar", marks=PULSAR_MARKS),
]
# (home, flavor) of the session workers: every scenario runs on each
FLAVORED_HOMES = [
    pytest.param(("embedded", "sync"), id="embedded"),
    pytest.param(("pulsar", "sync"), id="pulsar", marks=PULSAR_MARKS),
    pytest.param(("embedded", "async"), id="embedded-async"),
    pytest.param(("pulsar", "async"), id="pulsar-async", marks=[*PULSAR_MARKS, pytest.mark.slow]),
]


def storage_and_transport(
    request: pytest.FixtureRequest, home: str, tmp: Path, bus: str = "scenarios"
) -> tuple[Any, Any]:
    """The storage and transport config of `home`: on the embedded home, an in-memory `bus`
    of its own; on Pulsar, a fresh namespace and Redis key prefix."""
    if home == "embedded":
        # a bus of its own: the session worker keeps it open while other test modules start
        # and stop workers on the default in-memory bus
        return {"sqlite": {"path": str(tmp / "state.db")}}, {"inMemory": {"channel": bus}}
    url, admin = request.getfixturevalue("pulsar_urls")
    server = request.getfixturevalue("redis_server")
    options = {k: v for k, v in server.storage_options().items() if v is not None}
    storage = {"redis": {**options, "keyPrefix": f"scn{uuid.uuid4().hex[:8]}:"}}
    transport = {
        "pulsar": {
            "brokerServiceUrl": url,
            "webServiceUrl": admin,
            "tenant": "infinitic-tests",
            "namespace": f"scenarios-{uuid.uuid4().hex[:10]}",
            "consumer": {"negativeAckRedeliveryDelaySeconds": 0.2, "maxRedeliverCount": 2},
        }
    }
    return storage, transport


@pytest.fixture(scope="session", params=FLAVORED_HOMES)
def home(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Home]:
    where, flavor = request.param
    label = where if flavor == "sync" else f"{where}-{flavor}"
    storage, transport = storage_and_transport(
        request, where, tmp_path_factory.mktemp(f"home-{label}"), bus=f"scenarios-{label}"
    )
    entries = register()
    if flavor == "async":
        entries = {kind: async_impls.twin_entries(e) for kind, e in entries.items()}
    config = {"name": f"scenarios-{label}", "transport": transport, "storage": storage, **entries}
    worker = InfiniticWorker.from_config(config)
    probe = probe_for(worker)  # before start: it sees every state from the first one
    worker.start()
    try:
        yield Home(where, worker, probe, flavor)
    finally:
        worker.close()


@pytest.fixture
def client(home: Home) -> InfiniticClient:
    return home.client


class Later:
    """Infinitic's `later(ms) { ... }`: runs actions on other threads while the test blocks on
    a result. Prefer `when_waiting`, which starts the action once the instance is suspended
    (an event, not a guess); `after` (a delay) is for scenarios whose subject IS the timing.
    An action's exception fails the test at teardown."""

    def __init__(self, home: Home) -> None:
        self._home = home
        self._threads: list[threading.Thread] = []
        self._errors: list[str] = []

    def _start(self, run: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                run()
            except BaseException:  # noqa: BLE001 - reported at teardown
                self._errors.append(traceback.format_exc())

        thread = threading.Thread(target=guarded, daemon=True)
        self._threads.append(thread)
        thread.start()

    def when_waiting(
        self, workflow_id: str, action: Callable[[], Any], predicate: Predicate = is_waiting
    ) -> None:
        """Runs `action` once the instance `workflow_id` satisfies `predicate`."""

        def run() -> None:
            self._home.wait_until(workflow_id, predicate)
            action()

        self._start(run)

    def after(self, ms: float, action: Callable[[], Any]) -> None:
        """Runs `action` after `ms` milliseconds (Infinitic's default is 100)."""

        def run() -> None:
            threading.Event().wait(ms / 1000)
            action()

        self._start(run)

    @staticmethod
    def pause(ms: float) -> None:
        """Inside an action: waits `ms` milliseconds (for scenarios about a late client)."""
        threading.Event().wait(ms / 1000)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(TEST_TIMEOUT)
        if self._errors:
            raise AssertionError("an action run later failed:\n" + "\n".join(self._errors))


@pytest.fixture
def later(home: Home) -> Iterator[Later]:
    actions = Later(home)
    yield actions
    actions.join()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))
