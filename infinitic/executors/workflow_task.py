"""The workflow-task executor: replays a method run and reports what it found."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..common import messages as m
from ..common import serialization
from ..common import workflow_messages as w
from ..common.errors import error_info
from ..common.ids import new_id
from ..common.spec import EntitySpec, describe
from ..transport.base import Topics, Transport, decode_or_dead_letter
from ..workflow.aio import check_method
from .live_runs import LIVE_MIN_COMMANDS, LiveRun, LiveRuns
from .threads import TaskThreads
from .workflow_run import WorkflowRun

log = logging.getLogger("infinitic.executors.workflow_task")

# a debugging aid, set by the test suite: each step of a live run is replayed from the start too,
# and a difference fails the workflow task
VERIFY_LIVE = os.environ.get("INFINITIC_VERIFY_LIVE_RUNS", "") not in ("", "0")


VERSION_META = w.VERSION_META
_VERSION_SUFFIX = re.compile(r"_(\d+)$")


def workflow_version(cls: type) -> int:
    """The version of an implementation: the `_N` suffix of its class name (none: 0)."""
    found = _VERSION_SUFFIX.search(cls.__name__)
    return int(found.group(1)) if found else 0


@dataclass
class WorkflowRegistration:
    implementation: type  # the highest version: what new instances run
    name: str = ""
    concurrency: int = 1
    timeout_seconds: float | None = 60.0
    check_mode: str = "simple"
    versions: dict[int, type] = field(default_factory=dict)  # every version registered
    spec: EntitySpec = field(init=False)

    def __post_init__(self) -> None:
        self.spec = describe(self.implementation)
        if not self.versions:
            self.versions = {workflow_version(self.implementation): self.implementation}
        if not self.name:
            self.name = self.spec.name
        for cls in self.versions.values():
            named = describe(cls).name
            if self.name != named:
                raise errors.ConfigError(
                    f"workflow {self.name!r}: class {cls.__qualname__} is named "
                    f"{named!r} (by @name or its interface); use that name in the config"
                )
        found = [
            check_method("workflow", self.name, m.attribute, getattr(impl, m.attribute, None))
            for impl in self.versions.values()
            for m in self.spec.methods.values()
        ]
        problems = [problem for problem in found if problem]
        if problems:
            raise errors.ConfigError("; ".join(problems))

    def version_of(self, task: w.ExecuteWorkflowTask) -> tuple[int, type, bool]:
        """(version, class, newly chosen) for the instance of `task`: the version it recorded,
        else (its first workflow task) the highest registered."""
        raw = task.meta.get(VERSION_META)
        if raw is None:
            version = max(self.versions)
            return version, self.versions[version], True
        version = int(raw)
        cls = self.versions.get(version)
        if cls is None:
            raise errors.UnknownWorkflowError(
                f"workflow {self.name} {task.workflow_id} runs version {version}, which this "
                f"worker does not have (it has {sorted(self.versions)}): add its class to "
                "`classes`"
            )
        return version, cls, False


class WorkflowTaskExecutor:
    """Consumes one workflow name's workflow-task topic: replays each ExecuteWorkflowTask's
    method run over its history and sends the engine what it found (new commands, result)."""

    def __init__(
        self,
        transport: Transport,
        workflow: WorkflowRegistration,
        *,
        worker_name: str,
        max_payload_bytes: int = serialization.DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self.transport = transport
        self.workflow = workflow
        self.worker_name = worker_name
        self.max_payload_bytes = max_payload_bytes  # of what it reads, and what workflows send
        self.topic = Topics.workflow_task_executor(workflow.name)
        self.threads = TaskThreads(workflow.concurrency, f"infinitic-wf-{workflow.name}")
        self.live_runs = LiveRuns()

    async def start(self) -> None:
        await self.transport.subscribe(
            self.topic, self.handle, keyed=True, concurrency=self.workflow.concurrency
        )

    def close(self) -> None:
        self.live_runs.close()
        self.threads.close()

    async def handle(self, payload: bytes) -> None:
        msg = await decode_or_dead_letter(
            self.transport, self.topic, payload, w.ExecuteWorkflowTask, "workflow-task"
        )
        if msg is None:
            return
        result = await self.execute(msg)
        await self.transport.send(
            Topics.workflow_engine(msg.workflow_name), m.encode(result), key=msg.workflow_id
        )

    async def execute(self, msg: w.ExecuteWorkflowTask) -> w.WorkflowTaskCompleted:
        """Runs `msg` on a pool thread, within the workflow's timeout; what to tell the engine.
        Also called by an engine of this worker that runs its workflow tasks in its own step
        (WorkflowEngine.local_executor)."""
        future = self.threads.submit(lambda: self.run(msg))
        timeout = self.workflow.timeout_seconds
        try:
            result: w.WorkflowTaskCompleted
            if timeout:
                result = await asyncio.wait_for(asyncio.shield(future), timeout)
            else:
                result = await future
        except asyncio.TimeoutError:
            self.threads.abandon(future)
            future.cancel()
            # a live run still busy with it is not reliable any more
            self.live_runs.discard((msg.workflow_id, msg.method_run.method_run_id))
            error = errors.TimeoutError(f"the workflow task ran longer than {timeout:g}s")
            result = self._report(msg, "failed", error=error_info(error, self.worker_name))
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "workflow task %s of %s %s (method run %s): %s, %d new commands",
                msg.workflow_task_id,
                msg.workflow_name,
                msg.workflow_id,
                msg.method_run.method_run_id,
                result.outcome,
                len(result.new_commands),
            )
        return result

    def run(self, msg: w.ExecuteWorkflowTask) -> w.WorkflowTaskCompleted:
        """Runs on a pool thread: the replay itself."""
        method_name = msg.method_run.method_name
        spec = self.workflow.spec.methods.get(method_name)
        if spec is None:
            unknown = errors.UnknownWorkflowError(
                f"workflow {self.workflow.name} has no method {method_name!r}"
            )
            return self._report(msg, "failed", error=error_info(unknown, self.worker_name))
        try:
            version, implementation, chosen = self.workflow.version_of(msg)
        except errors.UnknownWorkflowError as exc:
            return self._report(msg, "failed", error=error_info(exc, self.worker_name))
        if not chosen:  # reserved: not the instance's meta as its code sees it
            msg.meta = {k: v for k, v in msg.meta.items() if k != VERSION_META}
        key = (msg.workflow_id, msg.method_run.method_run_id)
        live = self.live_runs.take(key)
        if live is not None and not live.matches(msg):
            live.evict()  # not the history it left: replay from the start
            live = None
        if live is None:
            replay = WorkflowRun(msg, None, self.workflow.check_mode, self.max_payload_bytes)
            try:
                instance = replay.instantiate(implementation)
                args = spec.decode_args(
                    msg.method_run.args, self.workflow.name, self.max_payload_bytes
                )
            except Exception as exc:  # noqa: BLE001 - reported as the method's failure
                return self._report(msg, "failed", error=error_info(exc, self.worker_name))
            if len(msg.method_run.commands) >= LIVE_MIN_COMMANDS:
                live = LiveRun(replay, getattr(instance, spec.attribute), args)
                step: Callable[[], tuple[str, Any]] = live.start
            else:
                method = getattr(instance, spec.attribute)
                step = lambda: replay.execute(method, args)  # noqa: E731
        else:
            replay = live.replay
            step = lambda: live.resume(msg)  # noqa: E731
        outcome: w.TaskOutcome
        try:
            kind, value = step()
            outcome = typing.cast(w.TaskOutcome, kind)  # a run answers completed or waiting
            result = (
                serialization.dumps(
                    value,
                    f"the result of {self.workflow.name}.{method_name}",
                    self.max_payload_bytes,
                    declared=spec.return_type,
                )
                if outcome == "completed"
                else b""
            )
            error: m.ErrorInfo | None = None
        except errors.WorkflowUpdatedError as exc:
            log.error("%s", exc)
            return self._report(msg, "updated", error=error_info(exc, self.worker_name))
        except Exception as exc:  # noqa: BLE001 - the workflow code failed
            outcome, result, error = "failed", b"", error_info(exc, self.worker_name)
        try:
            properties = replay.snapshot()
        except errors.SerializationError as exc:
            if live is not None:
                live.evict()
            return self._report(msg, "failed", error=error_info(exc, self.worker_name))
        completed = self._report(msg, outcome, error, properties)
        completed.new_commands = replay.new_commands
        completed.new_steps = replay.new_steps
        completed.props_store = (
            {**replay.props_store, VERSION_META: str(version).encode()}
            if chosen
            else replay.props_store
        )
        completed.result = result
        if VERIFY_LIVE and live is not None:
            completed = self._verified(msg, completed, implementation)
        if live is not None and outcome == "waiting":
            # kept only once this task is done with it: the next task may take it at once
            self.live_runs.keep(key, live)
        return completed

    def _verified(
        self, msg: w.ExecuteWorkflowTask, live: w.WorkflowTaskCompleted, implementation: type
    ) -> w.WorkflowTaskCompleted:
        """`live` if a replay from the start finds the same, else a failure saying so."""
        spec = self.workflow.spec.methods[msg.method_run.method_name]
        replay = WorkflowRun(msg, None, self.workflow.check_mode, self.max_payload_bytes)
        instance = replay.instantiate(implementation)
        args = spec.decode_args(msg.method_run.args, self.workflow.name, self.max_payload_bytes)
        try:
            outcome, value = replay.execute(getattr(instance, spec.attribute), args)
            result = (
                serialization.dumps(value, "", self.max_payload_bytes, declared=spec.return_type)
                if outcome == "completed"
                else b""
            )
        except Exception:  # noqa: BLE001 - compared by outcome only
            outcome, result = "failed", b""
        found = (outcome, result, replay.new_commands, replay.new_steps, replay.snapshot())
        kept = (live.outcome, live.result, live.new_commands, live.new_steps, live.properties)
        if found == kept:
            return live
        problem = RuntimeError(f"live run diverged from its replay: {kept!r} != {found!r}")
        return self._report(msg, "failed", error=error_info(problem, self.worker_name))

    def _report(
        self,
        msg: w.ExecuteWorkflowTask,
        outcome: w.TaskOutcome,
        error: m.ErrorInfo | None,
        properties: bytes | None = None,
    ) -> w.WorkflowTaskCompleted:
        """The answer to `msg`; without `properties`, the instance's are left as they came."""
        return w.WorkflowTaskCompleted(
            message_id=new_id(),
            workflow_id=msg.workflow_id,
            workflow_name=msg.workflow_name,
            method_run_id=msg.method_run.method_run_id,
            workflow_task_id=msg.workflow_task_id,
            outcome=outcome,
            properties=msg.properties if properties is None else properties,
            error=error,
            emitted_at=time.time(),
        )
