"""The worker's event listener and metrics: built from the config, wrapped around its parts."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..common import workflow_messages as w
from ..config.classes import import_class
from ..config.model import WorkerConfig
from ..engines.workflow_engine import WorkflowEngine
from ..errors import ConfigError
from ..events.listener import CloudEventListener
from ..events.tap import TimedTransport, timed_call
from ..executors.task import TaskExecutor
from ..executors.workflow_task import WorkflowTaskExecutor
from ..storage import Storage
from ..transport.base import Transport

if TYPE_CHECKING:
    from ..events.pipeline import EventPipeline
    from .metrics import Metrics

log = logging.getLogger("infinitic.worker")


def load_listener(config: WorkerConfig) -> CloudEventListener | None:
    entry = config.event_listener
    if entry is None:
        return None
    key = "eventListener.class"
    _needs("cloudevents", "events", "eventListener", config.source)
    cls = import_class(entry.class_path, key, config.source, "listener")
    if not callable(getattr(cls, "on_events", None)):
        raise ConfigError(
            f"{config.source}: {key}: {entry.class_path} has no on_events method: "
            "give a class with on_events(self, events: list[CloudEvent])"
        )
    if inspect.iscoroutinefunction(getattr(cls, "on_events", None)):
        raise ConfigError(
            f"{config.source}: {key}: {entry.class_path}.on_events is `async def`, but the "
            "worker calls it synchronously, on threads of its own: make it a plain def"
        )
    try:
        listener: CloudEventListener = cls()
    except Exception as exc:  # noqa: BLE001 - any constructor failure is a config problem
        raise ConfigError(
            f"{config.source}: {key}: cannot instantiate {entry.class_path} without arguments: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    return listener


def _needs(module: str, extra: str, key: str, source: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{source}: {key}: needs the {extra} extra: pip install 'infinitic[{extra}]'"
        ) from None


def source_prefix(transport: Transport) -> str:
    """Infinitic's CloudEvents source prefix: `inMemory`, or the broker URL/tenant/namespace."""
    settings: Any = getattr(transport, "settings", None)
    url = getattr(settings, "broker_service_url", None)
    if not url:
        return "inMemory"
    return (
        f"{url.rstrip('/')}/{quote(settings.tenant, safe='')}/{quote(settings.namespace, safe='')}"
    )


def _is_pulsar(transport: Transport) -> bool:
    return bool(getattr(getattr(transport, "settings", None), "broker_service_url", None))


class _PulsarBroker:
    """The events topic on Pulsar: published by the worker, read with the listener's own
    subscription (events/stream.py)."""

    def __init__(self, transport: Any, subscription: str) -> None:
        self.transport = transport
        self.subscription = subscription

    async def publish(self, topic: str, payload: bytes) -> None:
        await self.transport.send(topic, payload)

    async def subscribe(
        self, topic: str, handler: Callable[[bytes], Awaitable[None]], concurrency: int
    ) -> None:
        await self.transport.subscribe(
            topic, handler, concurrency=concurrency, subscription=self.subscription
        )

    async def dead_letter(self, topic: str, payload: bytes, reason: str) -> None:
        await self.transport.dead_letter(topic, payload, reason)


class Observability:
    """Nothing at all when the config has neither `eventListener` nor `metrics`."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.listener = load_listener(config)
        self.metrics: Metrics | None = None
        if config.metrics is not None:
            _needs("prometheus_client", "metrics", "metrics", config.source)
            from .metrics import Metrics

            self.metrics = Metrics(config.metrics)
        self.pipeline: EventPipeline | None = None

    @property
    def enabled(self) -> bool:
        return self.listener is not None or self.metrics is not None

    def transport(self, transport: Transport) -> Transport:
        """The transport the worker's parts use: the tap around `transport` when enabled."""
        if not self.enabled:
            return transport
        from ..events.pipeline import EventPipeline

        entry = self.config.event_listener
        self.pipeline = EventPipeline(
            worker=self.config.name,
            prefix=source_prefix(transport),
            config=entry,
            listener=self.listener,
            observations=self.metrics,
            broker=_PulsarBroker(transport, entry.subscription_name)
            if self.listener is not None and entry is not None and _is_pulsar(transport)
            else None,
        )
        if self.metrics is None:
            return transport
        if self.listener is not None:
            self.metrics.track_backlog("events", self.config.name, self.pipeline.pending)
        return TimedTransport(transport, self.metrics)

    def storage(self, storage: Storage) -> Storage:
        if self.metrics is None:
            return storage
        from .metrics import TimedStorage

        return TimedStorage(storage, self.metrics)

    def executor(self, executor: TaskExecutor) -> None:
        if self.pipeline is not None:
            executor.taps.append(self.pipeline.task_tap)

    def local_executor(
        self, executor: WorkflowTaskExecutor
    ) -> Callable[[w.ExecuteWorkflowTask], Awaitable[w.WorkflowTaskCompleted]]:
        """What an engine calls to run a workflow task in its step: timed, with metrics on, as
        the workflow-task executor's handler would be (its topic's handling histogram)."""
        if self.metrics is None:
            return executor.execute
        observe, failed = self.metrics.handling(executor.topic)

        async def timed(msg: w.ExecuteWorkflowTask) -> w.WorkflowTaskCompleted:
            return await timed_call(observe, failed, executor.execute(msg))

        return timed

    def engine(self, engine: WorkflowEngine) -> None:
        if self.pipeline is not None:
            engine.taps.append(self.pipeline.workflow_tap)
        outbox = getattr(engine, "outbox_backlog", None)  # a callable, when the engine has one
        if self.metrics is not None and callable(outbox):
            self.metrics.track_backlog("outbox", engine.workflow_name, outbox)

    async def start(self) -> None:
        if self.pipeline is not None:
            await self.pipeline.start()
        if self.metrics is not None:
            self.metrics.serve()

    async def close(self, deadline: float) -> None:
        """`deadline` (time.monotonic()): until when the listener may take what is left."""
        if self.pipeline is not None:
            await self.pipeline.close(deadline)
        if self.metrics is not None:
            self.metrics.close()
