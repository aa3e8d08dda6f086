"""WorkflowEnvironment: services and workflows in memory, on a virtual clock that skips time."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Generator, Iterable
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

from .. import errors
from ..client import InfiniticClient
from ..client.handles import TaskHandle
from ..common import clock
from ..common.ids import new_id
from ..common.runtime import Runtime
from ..common.spec import describe
from ..executors import workflow_task
from ..transport.factory import create_transport
from ..transport.memory import InMemoryTransport
from ..worker import InfiniticWorker
from .clock import VirtualClock
from .history import read_history

_ACTIVE: list[WorkflowEnvironment] = []


class WorkflowEnvironment:
    """Runs `services` and `workflows` (implementation classes) in memory, in this process.

    Time is virtual: it stands still while the test runs, and jumps straight to the next due
    timer, task retry or deadline whenever the test waits for a result (`handle.result()`, a
    stub call, `client.wait`) and nothing else is left to run, so a 30-day timer completes at
    once. `sleep(d)` moves it on by `d`, firing what falls due on the way. Every call of
    `client` that sends something returns once the engines are idle again, so a signal or
    `complete_timers` right after a dispatch finds the instance waiting for it.

    `timeout` bounds, in real seconds, every wait of the environment (a task that never ends, a
    workflow that waits for a signal nobody sends). `verify_live_runs` (on by default) replays
    each step of a kept-alive method run from its start too, so code that is not deterministic
    fails the workflow task instead of passing by chance (INFINITIC_VERIFY_LIVE_RUNS=1 does the
    same for any worker). The virtual clock is the process's engine clock while the environment
    is open: one environment at a time per process.
    """

    def __init__(
        self,
        services: Iterable[type] = (),
        workflows: Iterable[type] = (),
        *,
        start: datetime | None = None,
        check_mode: str = "simple",
        verify_live_runs: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self._services = list(services)
        self._workflows = list(workflows)
        if start is not None and start.tzinfo is None:
            raise ValueError("start needs an aware datetime (with a tzinfo)")
        if not timeout > 0:
            raise ValueError(f"timeout is in real seconds and must be > 0, got {timeout!r}")
        self._start_at = start
        self.timeout = timeout
        self._verify = verify_live_runs
        channel = f"infinitic-testing-{new_id()[:8]}"
        self._config: dict[str, Any] = {
            "name": "testing",
            "transport": {"inMemory": {"channel": channel}},
            "storage": "inMemory",
            "services": [_entry(cls, "service") for cls in self._services],
            "workflows": [
                dict(_entry(cls, "workflow"), checkMode=check_mode) for cls in self._workflows
            ],
        }
        self._clock: VirtualClock | None = None
        self._transport: InMemoryTransport | None = None
        self._worker: InfiniticWorker | None = None
        self._client: _EnvironmentClient | None = None
        self._saved: tuple[Any, bool] | None = None
        self._runtime: Runtime | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> WorkflowEnvironment:
        """Starts the environment (`with` does it for you); for unittest's setUp."""
        if self._worker is not None:
            return self
        if _ACTIVE:
            raise RuntimeError(
                "another WorkflowEnvironment is open in this process: close it first "
                "(its virtual clock is the process's engine clock)"
            )
        start = self._start_at.timestamp() if self._start_at else time.time()
        virtual = VirtualClock(start)
        self._clock = virtual
        _ACTIVE.append(self)
        try:
            self._runtime = Runtime.acquire()
            transport = create_transport("inMemory", self._config["transport"]["inMemory"])
            assert isinstance(transport, InMemoryTransport)
            transport.scheduler = virtual
            self._transport = transport
            self._saved = (clock.install(virtual.now), workflow_task.VERIFY_LIVE)
            workflow_task.VERIFY_LIVE = self._verify
            worker = InfiniticWorker.from_config(
                self._config, source="WorkflowEnvironment", clock=virtual.now
            )
            self._worker = worker.start()
            self._client = _EnvironmentClient(self, transport, self._runtime)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stops everything and gives the process its wall clock back (for unittest's tearDown)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
        transport, self._transport = self._transport, None
        runtime, self._runtime = self._runtime, None
        if transport is not None and runtime is not None:
            runtime.run(transport.close())  # the worker holds it too: closed with the worker
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()
        if runtime is not None:
            runtime.release()
        if self._clock is not None:
            self._clock.cancel_all()
        if self._saved is not None:
            clock.install(self._saved[0])
            workflow_task.VERIFY_LIVE = self._saved[1]
            self._saved = None
        if self in _ACTIVE:
            _ACTIVE.remove(self)

    def __enter__(self) -> WorkflowEnvironment:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what tests use -------------------------------------------------------------------

    @property
    def client(self) -> InfiniticClient:
        """A client whose calls wait for the engines to be idle, and whose waits skip time."""
        if self._client is None:
            raise _not_started()
        return self._client

    @property
    def worker(self) -> InfiniticWorker:
        if self._worker is None:
            raise _not_started()
        return self._worker

    def now(self) -> datetime:
        """The virtual time (aware, UTC)."""
        return datetime.fromtimestamp(self._virtual().now(), tz=timezone.utc)

    def sleep(self, duration: timedelta | float) -> None:
        """Moves the virtual clock on by `duration`, firing in order what falls due meanwhile
        and letting the engines handle each before the next."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative duration ({seconds}s)")
        virtual = self._virtual()
        target = virtual.now() + seconds
        deadline = time.monotonic() + self.timeout
        while True:
            self._settle(deadline)
            due = self._run(_next_due(virtual))
            if due is None or due > target:
                break
            self._run(_fire_until(virtual, due))
        self._run(_fire_until(virtual, target))
        self._settle(deadline)

    def wait_idle(self) -> None:
        """Returns once no message is queued or being handled (what is due later waits)."""
        self._settle(time.monotonic() + self.timeout)

    def history(self, interface: type | str, workflow_id: str) -> dict[str, Any]:
        """The history of an instance: the versioned JSON document `replay` takes
        (infinitic.common.history; docs/testing.md describes it)."""
        self.wait_idle()
        history: dict[str, Any] = self._run(
            read_history(self.worker.storage, interface, workflow_id)
        )
        return history

    # -- internals ------------------------------------------------------------------------

    def _virtual(self) -> VirtualClock:
        if self._clock is None:
            raise _not_started()
        return self._clock

    def _run(self, coro: Any) -> Any:
        if self._runtime is None:
            raise _not_started()
        return self._runtime.run(coro)

    def _settle(self, deadline: float) -> None:
        transport = self._transport
        assert transport is not None
        if not self._run(_idle(transport, deadline)):
            raise errors.TimeoutError(
                f"the engines were still busy after {self.timeout:g}s (real time): a task or a "
                "workflow task that does not end? (WorkflowEnvironment(timeout=...) sets the limit)"
            )

    def _drive(self, handle: TaskHandle[Any], timeout: float | None) -> None:
        """Skips time until `handle` has its result (or `timeout` real seconds passed)."""
        limit = timeout if timeout is not None else self.timeout
        deadline = time.monotonic() + limit
        future = handle._future
        virtual = self._virtual()
        while not future.done() and time.monotonic() < deadline:
            try:
                self._settle(deadline)
            except errors.TimeoutError:
                break
            if future.done():
                break
            due = self._run(_next_due(virtual))
            if due is not None:
                self._run(_fire_until(virtual, due))
                continue
            # nothing is scheduled: what it waits for can only come from another thread
            concurrent.futures.wait([future], timeout=min(0.01, deadline - time.monotonic()))
        if not future.done():
            raise errors.TimeoutError(
                f"no result for {handle.name} ({handle.id}) within {limit:g}s of real time: "
                "nothing left to run or to skip to (it waits for a signal, or a task is stuck)"
            )


class _EnvironmentHandle(TaskHandle[Any]):
    __slots__ = ("_env",)

    def __init__(self, handle: TaskHandle[Any], env: WorkflowEnvironment) -> None:
        super().__init__(handle.id, handle.name, handle._future, handle._deadline)
        self._env = env

    def result(self, timeout: float | None = None) -> Any:
        self._env._drive(self, timeout if timeout is not None else self._deadline)
        return super().result(0)

    def __await__(self) -> Generator[Any, None, Any]:
        return self._driven().__await__()

    async def _driven(self) -> Any:
        # the drive blocks: off this loop (the test's own), on a thread
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._env._drive, self, self._deadline)
        return super().result(0)


class _EnvironmentClient(InfiniticClient):
    """A client that returns once the engines are idle, and whose waits skip virtual time."""

    def __init__(
        self, env: WorkflowEnvironment, transport: InMemoryTransport, runtime: Runtime
    ) -> None:
        super().__init__(transport, runtime, name="testing")
        self._env = env

    def _settled(self, handle: TaskHandle[Any]) -> TaskHandle[Any]:
        self._env.wait_idle()
        return _EnvironmentHandle(handle, self._env)

    def _dispatch_task(self, *args: Any, **kwargs: Any) -> TaskHandle[Any]:
        return self._settled(super()._dispatch_task(*args, **kwargs))

    def _dispatch_workflow_method(self, *args: Any, **kwargs: Any) -> TaskHandle[Any]:
        return self._settled(super()._dispatch_workflow_method(*args, **kwargs))

    def wait(self, stub: Any, timeout: float | None = None) -> Any:
        return self._settled(self._wait_handle(stub, timeout)).result()

    async def wait_async(self, stub: Any, timeout: float | None = None) -> Any:
        handle = self._wait_handle(stub, timeout)
        await self._idle_off_the_loop()
        return await _EnvironmentHandle(handle, self._env)

    async def _idle_off_the_loop(self) -> None:
        # wait_idle blocks: off the caller's loop, on a thread
        await asyncio.get_running_loop().run_in_executor(None, self._env.wait_idle)

    def _send_signal(self, *args: Any, **kwargs: Any) -> None:
        super()._send_signal(*args, **kwargs)
        self._env.wait_idle()

    def cancel(self, *args: Any, **kwargs: Any) -> None:
        super().cancel(*args, **kwargs)
        self._env.wait_idle()

    def retry_workflow_task(self, *args: Any, **kwargs: Any) -> None:
        super().retry_workflow_task(*args, **kwargs)
        self._env.wait_idle()

    def complete_timers(self, *args: Any, **kwargs: Any) -> None:
        super().complete_timers(*args, **kwargs)
        self._env.wait_idle()

    def retry_tasks(self, *args: Any, **kwargs: Any) -> None:
        super().retry_tasks(*args, **kwargs)
        self._env.wait_idle()

    def get_ids_by_tag(self, *args: Any, **kwargs: Any) -> list[str]:
        self._env.wait_idle()
        return super().get_ids_by_tag(*args, **kwargs)

    def get_task_ids_by_tag(self, *args: Any, **kwargs: Any) -> list[str]:
        self._env.wait_idle()
        return super().get_task_ids_by_tag(*args, **kwargs)

    async def get_ids_by_tag_async(self, *args: Any, **kwargs: Any) -> list[str]:
        await self._idle_off_the_loop()
        return await super().get_ids_by_tag_async(*args, **kwargs)

    async def get_task_ids_by_tag_async(self, *args: Any, **kwargs: Any) -> list[str]:
        await self._idle_off_the_loop()
        return await super().get_task_ids_by_tag_async(*args, **kwargs)


def _not_started() -> RuntimeError:
    return RuntimeError("the environment is not started: use `with WorkflowEnvironment(...)`")


async def _idle(transport: InMemoryTransport, deadline: float) -> bool:
    """True once nothing is queued or handled for a few loop turns in a row; False at `deadline`."""
    quiet = 0
    while quiet < 3:
        if transport.pending() == 0:
            quiet += 1
            await asyncio.sleep(0)
        else:
            quiet = 0
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.001)
    return True


async def _next_due(virtual: VirtualClock) -> float | None:
    return virtual.next_due()


async def _fire_until(virtual: VirtualClock, instant: float) -> int:
    return virtual.fire_until(instant)


def _entry(cls: Any, role: str) -> dict[str, Any]:
    if not isinstance(cls, type):
        raise TypeError(f"WorkflowEnvironment takes {role} implementation classes, got {cls!r}")
    if "<locals>" in cls.__qualname__:
        raise TypeError(
            f"{cls.__qualname__}: the environment's worker imports {role} classes by path, so "
            "define them at the top level of a module, not inside a function"
        )
    return {"name": describe(cls).name, "class": f"{cls.__module__}.{cls.__qualname__}"}
