"""A workflow that makes every event type happen, and listeners that record what they hear."""

from __future__ import annotations

import threading
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from infinitic import (
    CanceledError,
    Channel,
    TaskFailedError,
    TimeoutError,
    Workflow,
    WorkflowFailedError,
    delegated,
    name,
    task,
)
from infinitic.common.ids import custom_workflow_id

SLOW_GATE = threading.Event()  # the slow task runs until the test opens it
DELEGATED = threading.Event()  # set when EvDelegated.later ran


@name("EvTasks")
class EvTasks:
    def ok(self, x: int) -> int: ...
    def boom(self) -> int: ...
    def slow(self) -> int: ...


class EvTasksImpl(EvTasks):
    def ok(self, x: int) -> int:
        return x + 1

    def boom(self) -> int:
        raise ValueError("boom")

    def slow(self) -> int:
        SLOW_GATE.wait(30)
        return 0


@name("EvFlaky")
class EvFlaky:
    def flaky(self) -> str: ...


class EvFlakyImpl(EvFlaky):
    def flaky(self) -> str:
        if task.retry_index == 0:
            raise RuntimeError("first attempt fails")
        return f"ok at retry {task.retry_index}"


@name("EvDelegated")
class EvDelegated:
    def later(self) -> int: ...


class EvDelegatedImpl(EvDelegated):
    @delegated
    def later(self) -> int:
        DELEGATED.set()
        return 0  # ignored: the result comes from client.complete_delegated_task


@name("EvChild")
class EvChild(Workflow):
    ch = Channel[str]()
    other = Channel[str]()

    def echo(self, x: str) -> str: ...
    def crash(self) -> str: ...
    def listen(self) -> str: ...
    def stuck(self) -> str: ...
    def ping(self) -> str: ...
    def due(self) -> str: ...


class EvChildImpl(EvChild):
    def echo(self, x: str) -> str:
        return x

    def crash(self) -> str:
        raise KeyError("crashed")

    def listen(self) -> str:
        return self.ch.receive().result()

    def stuck(self) -> str:
        return self.ch.receive().result()

    def ping(self) -> str:
        return "pong"

    def due(self) -> str:
        self.timer(0).result()  # due before the engine arms it
        return "due"


@name("EvSteps")
class EvSteps(Workflow):
    def run(self, x: int) -> int: ...


class EvStepsImpl(EvSteps):
    def run(self, x: int) -> int:
        tasks = self.new_service(EvTasks)
        total = tasks.ok(x) + tasks.ok(x + 1)
        self.timer(0).result()
        return total + tasks.ok(x + 2)


@name("EvParent")
class EvParent(Workflow):
    def run(self, key: str) -> list[Any]: ...


class EvParentImpl(EvParent):
    def run(self, key: str) -> list[Any]:
        tasks = self.new_service(EvTasks)
        out: list[Any] = [tasks.ok(1)]
        try:
            tasks.boom()
        except TaskFailedError:
            out.append("boom caught")
        out.append(self.new_service(EvFlaky).flaky())
        try:
            self.new_service(EvTasks, timeout=0.2).slow()
        except TimeoutError:
            out.append("slow timed out")
        self.timer(0.05).result()
        out.append(self.new_workflow(EvChild).echo("x"))
        try:
            self.new_workflow(EvChild).crash()
        except WorkflowFailedError:
            out.append("crash caught")
        # Deferred.id is not built yet: a custom id names the child instead
        listen_tags = {f"customId:listen-{key}"}
        listening = self.dispatch(self.new_workflow(EvChild, tags=listen_tags).listen)
        target = self.get_workflow_by_id(EvChild, _id(listen_tags))
        target.other.send("nobody listens")
        target.ch.send("hi")
        out.append(listening.result())
        try:
            self.new_workflow(EvChild, tags={f"cancel-me:{key}"}).listen()
        except CanceledError:
            out.append("child canceled")
        stuck_tags = {f"customId:stuck-{key}"}
        stuck = self.dispatch(self.new_workflow(EvChild, tags=stuck_tags, timeout=0.3).stuck)
        try:
            stuck.result()
        except TimeoutError:
            out.append("child timed out")
        out.append(self.get_workflow_by_id(EvChild, _id(stuck_tags)).ping())
        return out


def _id(tags: set[str]) -> str:
    found = custom_workflow_id("EvChild", tags)
    assert found is not None
    return found


class Recorder:
    """Keeps every event it is given (instances share one list: the worker makes its own)."""

    events: list[CloudEvent] = []
    lock = threading.Lock()

    def on_events(self, events: list[CloudEvent]) -> None:
        with self.lock:
            Recorder.events.extend(events)


class FailingRecorder(Recorder):
    """Fails its first `FAILURES` calls, then records."""

    FAILURES = 3
    calls = 0

    def on_events(self, events: list[CloudEvent]) -> None:
        FailingRecorder.calls += 1
        if FailingRecorder.calls <= FailingRecorder.FAILURES:
            raise ConnectionError("listener backend down")
        super().on_events(events)


class BrokenRecorder:
    """Always fails."""

    calls = 0

    def on_events(self, events: list[CloudEvent]) -> None:
        BrokenRecorder.calls += 1
        raise ConnectionError("listener backend down for good")


class RecorderA(Recorder):
    """Keeps its own list (Recorder's subclasses share none with it)."""

    events: list[CloudEvent] = []

    def on_events(self, events: list[CloudEvent]) -> None:
        with self.lock:
            type(self).events.extend(events)


class RecorderB(RecorderA):
    events: list[CloudEvent] = []
