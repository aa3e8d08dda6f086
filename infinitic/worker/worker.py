"""InfiniticWorker: builds everything a config declares and runs it on the shared event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..client import InfiniticClient
from ..common.runtime import Runtime
from ..common.workflow_messages import WorkflowState
from ..config import WorkerConfig, load_config, load_config_file
from ..engines.service_tag import ServiceTagEngine
from ..engines.workflow_engine import WorkflowEngine
from ..engines.workflow_engine.owners import Owners
from ..engines.workflow_tag import WorkflowTagEngine
from ..errors import ConfigError
from ..executors.task import TaskExecutor
from ..executors.workflow_task import WorkflowTaskExecutor
from ..storage import Storage, create_storage
from ..transport.base import Transport
from ..transport.factory import create_transport
from . import gc_tuning
from .loading import load_classes
from .observability import Observability
from .redriving import heartbeat, sweep

if TYPE_CHECKING:
    from ..web.server import DashboardServer

PURGE_INTERVAL_SECONDS = 300.0

log = logging.getLogger("infinitic.worker")


class InfiniticWorker:
    """Runs the services, workflows and engines of a config: the composition root.

    `start()` returns once every executor consumes; `close()` stops them. `client` is a client
    on the same transport, also handed to tasks as `task.client`.
    """

    def __init__(self, config: WorkerConfig, *, clock: Callable[[], float] | None = None) -> None:
        """`clock` (seconds since the epoch, like time.time) drives state retention; tests
        pass a fake one."""
        self.config = config
        self._clock = clock
        self._workflows, self._registrations = load_classes(config)
        self.observability = Observability(config)  # eventListener and metrics
        self._runtime: Runtime | None = None
        self._transport: Transport | None = None
        self._executors: list[TaskExecutor | WorkflowTaskExecutor] = []
        self._storage: Storage | None = None
        self._engines: list[WorkflowEngine] = []
        self._listeners: list[Callable[[WorkflowState], None]] = []
        self._purger: asyncio.Task[None] | None = None
        self._owners: Owners | None = None
        self._background: list[asyncio.Task[None]] = []
        self._client: InfiniticClient | None = None
        self._stopped = threading.Event()
        self._state_lock: str | None = None
        self.dashboard: DashboardServer | None = None  # when the config has `dashboard:`

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any] | WorkerConfig,
        source: str = "<dict>",
        *,
        clock: Callable[[], float] | None = None,
    ) -> InfiniticWorker:
        return cls(load_config(config, source=source), clock=clock)

    @classmethod
    def from_config_file(cls, path: str | Path) -> InfiniticWorker:
        return cls(load_config_file(path))

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def client(self) -> InfiniticClient:
        if self._client is None:
            raise RuntimeError("the worker is not started: call worker.start() first")
        return self._client

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            raise RuntimeError("the worker is not started")
        return self._transport

    @property
    def storage(self) -> Storage:
        """The state storage of its workflows (read-only use: histories, checks in tests)."""
        if self._storage is None:
            raise RuntimeError("the worker is not started, or runs no workflow")
        return self._storage

    def start(self) -> InfiniticWorker:
        if self._runtime is not None:
            return self
        try:
            return self._start()
        except BaseException as exc:
            self.close()  # what started is stopped: nothing is left running half set up
            self._client, self._transport, self._storage = None, None, None
            self._engines.clear()
            if isinstance(exc, ConfigError) and not str(exc).startswith(self.config.source):
                # backend options are checked by the backend: name the file they came from
                raise ConfigError(f"{self.config.source}: {exc}") from None
            raise

    def _start(self) -> InfiniticWorker:
        runtime = Runtime.acquire()
        self._runtime = runtime
        transport = create_transport(self.config.transport, self.config.transport_options)
        self._transport = transport
        runtime.run(transport.start())
        transport = self.observability.transport(transport)  # tapped, when observed
        runtime.run(self.observability.start())
        limit = self.config.max_payload_bytes
        self._client = InfiniticClient(
            transport, runtime, name=self.config.name, max_payload_bytes=limit
        )
        if self._workflows or self._registrations:
            self._start_workflows(runtime, transport)
        for registration in self._registrations:
            executor = TaskExecutor(
                transport,
                registration,
                worker_name=self.config.name,
                client=self._client,
                max_payload_bytes=limit,
            )
            self.observability.executor(executor)
            self._executors.append(executor)
            runtime.run(executor.start())
            log.info(
                "worker %s runs service %s (concurrency %d)",
                self.config.name,
                registration.name,
                registration.concurrency,
            )
        if self.config.dashboard is not None:
            self._start_dashboard()
        if self.config.tune_garbage_collector:
            gc_tuning.tune()  # last: what start-up made is frozen
        return self

    def _start_dashboard(self) -> None:
        from .observability import _needs

        assert self.config.dashboard is not None and self._client is not None
        _needs("starlette", "dashboard", "dashboard", self.config.source)
        _needs("uvicorn", "dashboard", "dashboard", self.config.source)
        from ..web import create_app
        from ..web.server import DashboardServer
        from .dashboard import pulsar_stats

        entry = self.config.dashboard
        app = create_app(
            self._client,
            token=entry.token,
            topic_stats=pulsar_stats(self.transport),
            bind=entry.host,
        )
        self.dashboard = DashboardServer(app, entry.host, entry.port).start()
        log.info("worker %s serves its dashboard on %s", self.config.name, self.dashboard.url)

    def add_workflow_listener(self, listener: Callable[[WorkflowState], None]) -> None:
        """Calls `listener(state)` on the event loop after each workflow state is saved. The
        state is the engine's own object: read it there, copy it to keep it."""
        self._listeners.append(listener)
        for engine in self._engines:
            engine.listeners.append(listener)

    def _start_workflows(self, runtime: Runtime, transport: Transport) -> None:
        path = self.config.storage_options.get("path")
        if self.config.storage == "sqlite" and isinstance(path, str) and path != ":memory:":
            # one in-memory-transport process per state file: a second would run tasks twice
            from ..transport.sqlite import state_lock

            in_memory = self.config.transport == "inMemory"
            self._state_lock = state_lock.acquire(path, in_memory_transport=in_memory)
        storage = create_storage(
            {self.config.storage: self.config.storage_options}
            if self.config.storage_options
            else self.config.storage,
            clock=self._clock,
        )
        self._storage = storage  # closed by close() even if it fails to start
        runtime.run(storage.start())
        storage = self.observability.storage(storage)
        lease = getattr(self._transport, "key_lease_seconds", None)  # SQLite's: it holds keys
        owners = self._owners = Owners.for_transport(storage, lease)
        runtime.run(owners.beat())
        if self._client is not None:  # describe_workflow / list_workflows read it
            self._client._storage = storage
        for entry, registration in self._workflows:
            engine = WorkflowEngine(
                transport,
                storage,
                entry.name,
                concurrency=entry.handled_at_once,
                retention_seconds=entry.retention_seconds,
                cache_size=entry.state_cache_size,
                redrive_after_seconds=entry.redrive_after_seconds,
                tombstone_seconds=entry.tombstone_seconds,
                owners=owners,
            )
            engine.listeners.extend(self._listeners)
            self.observability.engine(engine)
            self._engines.append(engine)
            runtime.run(
                WorkflowTagEngine(
                    transport, storage, entry.name, concurrency=entry.handled_at_once
                ).start()
            )
            if registration is not None:
                executor = WorkflowTaskExecutor(
                    transport,
                    registration,
                    worker_name=self.config.name,
                    max_payload_bytes=self.config.max_payload_bytes,
                )
                self._executors.append(executor)
                runtime.run(executor.start())
                if self._transport is not None and self._transport.workflow_tasks_in_process:
                    engine.local_executor = self.observability.local_executor(executor)
            log.info("worker %s runs workflow %s", self.config.name, entry.name)
        for service in self._registrations:
            runtime.run(ServiceTagEngine(transport, storage, service.name).start())
        for engine in self._engines:
            # before the engine consumes, so re-driving never races with new messages here
            runtime.run(engine.redrive())
            runtime.run(engine.start())
        runtime.run(self._start_purger(storage))
        runtime.run(self._start_redriving(owners))

    async def _start_redriving(self, owners: Owners) -> None:
        loop = asyncio.get_running_loop()
        self._background.append(loop.create_task(heartbeat(owners)))
        for engine in self._engines:
            self._background.append(loop.create_task(sweep(engine, owners.ttl_seconds)))

    async def _start_purger(self, storage: Storage) -> None:
        async def purge() -> None:
            while True:
                await asyncio.sleep(PURGE_INTERVAL_SECONDS)
                try:
                    await storage.purge_expired()
                except Exception:  # noqa: BLE001 - retried at the next interval
                    log.exception("purging expired workflow states failed")

        self._purger = asyncio.get_running_loop().create_task(purge())

    def close(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is None:
            return
        # one period for all that waits on the close: the running tasks, then the event listener
        # (fed all along, it gets only what the tasks left of it)
        deadline = time.monotonic() + self.config.shutdown_grace_period_seconds
        # first, while the client and transport still deliver what the running tasks return
        try:
            runtime.run(self._drain(deadline))
        except Exception:  # noqa: BLE001 - the rest of the close must run all the same
            log.exception("closing: waiting for the running tasks failed")
        if self.dashboard is not None:
            self.dashboard.close()
            self.dashboard = None
        if self._client is not None:
            self._client.close()
        for executor in self._executors:
            executor.close()
        self._executors.clear()
        if self._purger is not None:
            runtime.loop.call_soon_threadsafe(self._purger.cancel)
        for background in self._background:
            runtime.loop.call_soon_threadsafe(background.cancel)
        self._background.clear()
        if self._owners is not None and self._storage is not None:
            try:  # gone at once: a worker starting next re-drives what this one held
                runtime.run(self._owners.leave())
            except Exception:  # noqa: BLE001 - it expires by itself
                log.warning("could not remove this worker's liveness key", exc_info=True)
            self._owners = None
        # each of these runs even if one before it raised (its error is raised once all ran):
        # a transport that fails to close must not leave the storage's connections open
        with contextlib.ExitStack() as closing:  # run last to first
            closing.callback(self._stopped.set)
            closing.callback(runtime.release)
            closing.callback(self._release_state_lock)
            storage, transport = self._storage, self._transport
            if storage is not None:
                closing.callback(lambda: runtime.run(storage.close()))
            if transport is not None:
                closing.callback(lambda: runtime.run(transport.close()))
            closing.callback(lambda: runtime.run(self.observability.close(deadline)))

    def _release_state_lock(self) -> None:
        if self._state_lock is not None:
            from ..transport.sqlite import state_lock

            state_lock.release(self._state_lock)
            self._state_lock = None

    async def _drain(self, deadline: float) -> None:
        """Gives the tasks running now until `deadline` (time.monotonic()) to end."""
        executors = [e for e in self._executors if isinstance(e, TaskExecutor)]
        running = sum(executor.running for executor in executors)
        if not running:
            return
        seconds = self.config.shutdown_grace_period_seconds
        log.info("closing: waiting up to %ss for %d running task(s)", seconds, running)
        for executor in executors:
            if not await executor.drain(max(0.0, deadline - time.monotonic())):
                log.warning("closing: tasks still running after %ss are abandoned", seconds)
                return

    def run(self, on_started: Callable[[], None] | None = None) -> None:
        """Starts and blocks until SIGINT/SIGTERM (or close() from another thread)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self._stopped.set())
        self.start()
        if on_started is not None:
            on_started()
        self._stopped.wait()
        self.close()

    def __enter__(self) -> InfiniticWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
