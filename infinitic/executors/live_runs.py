"""Method runs kept alive between workflow tasks, so a long run is not replayed at every step.

A workflow task replays its method run from the start: O(n) for the n-th step, O(n²) for a run.
Once a run has `LIVE_MIN_COMMANDS` commands, the executor runs it on a thread of its own and,
when it waits on an undecided step, keeps it there (`WorkflowRun.live.suspend`); the next task of
that run hands it the new history (`WorkflowRun.load`) and it goes on from where it waited,
exactly as a replay would have reached that point. A task whose history is not the one the live
run left (a redelivered task, a retried one, a task after a lost result) evicts it and is
replayed from the start, as before. At most `capacity` runs are kept per workflow (least
recently used go first); an evicted run unwinds by `Evicted`, a BaseException that user
`except Exception` blocks do not catch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..common import workflow_messages as w
from .workflow_run import WorkflowRun

LIVE_MIN_COMMANDS = 16
DEFAULT_CAPACITY = 256


class Evicted(BaseException):
    """Unwinds a live run that is no longer kept."""


class LiveRun:
    """One method run on its own thread; the caller and the run take turns."""

    def __init__(self, replay: WorkflowRun, method: Callable[..., Any], args: list[Any]) -> None:
        self.replay = replay
        replay.live = self
        self._method = method
        self._args = args
        self._cond = threading.Condition()
        self._run_turn = False
        self._evicted = False
        self.finished = False
        self._outcome: tuple[str, Any] = ("waiting", None)
        self._thread = threading.Thread(target=self._main, name="infinitic-live-run", daemon=True)

    def matches(self, task: w.ExecuteWorkflowTask) -> bool:
        """Whether `task` carries the history this run left: its commands, and its wait."""
        commands, mine = task.method_run.commands, self.replay.commands
        if self.finished or len(commands) != len(mine):
            return False
        if commands and commands[-1].command_id != mine[-1].command_id:
            return False
        steps = task.method_run.steps
        return bool(steps) and steps[-1].position == self.replay.position

    def start(self) -> tuple[str, Any]:
        """Runs the method until it waits or ends: ('waiting'|'completed', value) or raises."""
        with self._cond:
            self._run_turn = True
            self._thread.start()
            return self._wait_for_run()

    def resume(self, task: w.ExecuteWorkflowTask) -> tuple[str, Any]:
        with self._cond:
            self.replay.load(task)
            self._run_turn = True
            self._cond.notify_all()
            return self._wait_for_run()

    def evict(self) -> None:
        with self._cond:
            if self.finished:
                return
            self._evicted = True
            self._run_turn = True
            self._cond.notify_all()

    def _wait_for_run(self) -> tuple[str, Any]:
        while self._run_turn:
            self._cond.wait()
        kind, value = self._outcome
        if kind == "raised":
            raise value
        return kind, value

    # -- on the run's own thread ---------------------------------------------------------------

    def suspend(self) -> None:
        with self._cond:
            self._outcome = ("waiting", None)
            self._run_turn = False
            self._cond.notify_all()
            while not self._run_turn:
                self._cond.wait()
            if self._evicted:
                raise Evicted()

    def _main(self) -> None:
        outcome: tuple[str, Any]
        try:
            outcome = self.replay.execute(self._method, self._args)
        except Evicted:
            outcome = ("evicted", None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who reports it
            outcome = ("raised", exc)
        with self._cond:
            self.finished = True
            self._outcome = outcome
            self._run_turn = False
            self._cond.notify_all()


class LiveRuns:
    """The live runs of one workflow executor, by (workflow id, method run id); thread-safe."""

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = DEFAULT_CAPACITY if capacity is None else capacity
        self._runs: OrderedDict[tuple[str, str], LiveRun] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str]) -> LiveRun | None:
        with self._lock:
            return self._runs.pop(key, None)

    def keep(self, key: tuple[str, str], run: LiveRun) -> None:
        if run.finished:
            return
        with self._lock:
            # a copy of the same task run meanwhile (a redelivery) may have left one: keep one
            replaced = self._runs.pop(key, None)
            evicted = [replaced] if replaced is not None and replaced is not run else []
            self._runs[key] = run
            while len(self._runs) > self.capacity:
                evicted.append(self._runs.popitem(last=False)[1])
        for old in evicted:
            old.evict()

    def discard(self, key: tuple[str, str]) -> None:
        run = self.take(key)
        if run is not None:
            run.evict()

    def close(self) -> None:
        with self._lock:
            runs, self._runs = list(self._runs.values()), OrderedDict()
        for run in runs:
            run.evict()

    def __len__(self) -> int:
        return len(self._runs)
