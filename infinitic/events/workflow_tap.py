"""The engine tap: `infinitic.workflow.*` events from what a workflow engine handled.

Called by the engine after each successful save with the message it handled, the state it saved
and its outbox. Events about messages (dispatch, results, timers, children, workflow tasks) come
from the message and the outbox, as Infinitic builds them from its topics; the engine's own
decisions (started, a method or the instance ending, a signal received or discarded, a deadline
that passed) are read from the saved state, against a small memo of each instance's statuses.
Only ids, names and the messages themselves are kept: the state is mutated by the next message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..common import messages as m
from ..common import workflow_messages as w
from . import types as t
from .record import Record, source
from .tap import Observations

log = logging.getLogger("infinitic.events")

_ENDED = {"completed": "methodCompleted", "failed": "methodFailed", "canceled": "methodCanceled"}
_REMOTE = {
    "completed": "remoteMethodCompleted",
    "failed": "remoteMethodFailed",
    "canceled": "remoteMethodCanceled",
    "unknown": "remoteMethodFailed",  # the child is unknown: the caller sees a failure
}
# what a client (or another workflow) asks of an instance -> Infinitic's command event
_COMMANDS: dict[type, str] = {
    w.CancelWorkflow: "cancel",
    w.RetryTasks: "retryTask",
    w.RetryTasksWhere: "retryTask",
    w.RetryWorkflowTask: "retryExecutor",
    w.SendSignal: "signal",
}
_DISPATCHES = (w.DispatchWorkflow, w.DispatchMethod)
_TERMINAL = ("completed", "canceled")  # a failed instance may be retried: it stays in the memo


class WorkflowTap:
    def __init__(
        self,
        worker: str,
        emit: Callable[[Record], None] | None,
        includes: Callable[[str], bool],
        observations: Observations | None,
    ) -> None:
        self.worker = worker
        self.emit = emit
        self.includes = includes
        self.observations = observations
        # workflow id -> (instance status, {method run id: status})
        self._memo: dict[str, tuple[str, dict[str, str]]] = {}
        # signals and deadlines buffered while a workflow task ran: decided when applied
        self._pending: dict[str, list[w.SendSignal | w.CommandTimedOut]] = {}
        self._sources: dict[str, str | None] = {}  # workflow -> source path (None: not heard)

    def __call__(self, msg: Any, state: w.WorkflowState | None, out: Any) -> None:
        try:
            self._tap(msg, state, out)
        except Exception:  # noqa: BLE001 - events are a view: never fail the engine's message
            log.exception(
                "events of %s on workflow %s", type(msg).__name__, state and state.workflow_id
            )

    def _tap(self, msg: Any, state: w.WorkflowState | None, out: Any) -> None:
        if state is None:
            kind = type(msg)
            if self.emit is not None and (kind in _COMMANDS or kind in _DISPATCHES):
                self._message(msg, None, out.now)  # a command for an instance that is gone
            return
        now = out.now
        if self.emit is not None:  # else only the metrics listen: transitions are enough
            if state.workflow_id in self._pending:
                self._resolve(state, now, msg.message_id)
            self._message(msg, state, now)
            for item in out.sends:
                self._sent(item.message, item.delay, state, now)
        self._transitions(msg, state, now, out.later)

    # -- helpers -------------------------------------------------------------------------

    def _event(
        self,
        suffix: str,
        name: str,
        subject: str,
        event_id: str,
        at: float,
        method_id: str | None,
        method_name: str | None,
        detail: Any,
    ) -> None:
        if self.emit is None:
            return
        try:
            where = self._sources[name]
        except KeyError:
            heard = self.includes(name)
            where = self._sources[name] = source("workflows/stateEngine", name) if heard else None
        if where is not None:
            build, detail_arg = detail if type(detail) is tuple else (None, detail)
            arg = (suffix, name, method_id, method_name, self.worker, build, detail_arg)
            self.emit((t.WORKFLOW + suffix, where, subject, event_id, at, "workflow", arg))

    @staticmethod
    def _method_name(state: w.WorkflowState | None, run_id: str | None) -> str | None:
        for run in state.method_runs if state is not None and run_id else ():
            if run.method_run_id == run_id:
                return run.method_name
        return None

    def _on(self, state: w.WorkflowState, suffix: str, event_id: str, at: float,
            run_id: str | None, detail: Any) -> None:  # fmt: skip
        name = self._method_name(state, run_id)
        self._event(
            suffix, state.workflow_name, state.workflow_id, event_id, at, run_id, name, detail
        )

    # -- what the engine handled ---------------------------------------------------------

    def _message(self, msg: Any, state: w.WorkflowState | None, now: float) -> None:
        kind = type(msg)
        mid = msg.message_id
        if kind is w.DispatchWorkflow:
            detail = _lazy("dispatch", msg)
            self._event(
                "dispatch", msg.workflow_name, msg.workflow_id, mid, now, None, None, detail
            )
        elif kind is w.DispatchMethod:
            detail = _lazy("dispatch_method", msg)
            self._event(
                "dispatchMethod", msg.workflow_name, msg.workflow_id, mid, now, None, None, detail
            )
        elif kind in _COMMANDS:
            self._command(msg, now)
            if kind is w.SendSignal and state is not None:
                if any(x is msg for x in state.buffer):
                    self._pending.setdefault(state.workflow_id, []).append(msg)
                else:
                    self._decide(state, msg, now, mid)
        elif state is None:
            return
        elif kind is m.TaskCompleted:
            self._on(state, "taskCompleted", mid, now, msg.method_run_id, _lazy("task_result", msg))
        elif kind is m.TaskFailed:
            self._on(state, "taskFailed", mid, now, msg.method_run_id, _lazy("task_result", msg))
        elif kind is w.TimerCompleted:
            self._on(
                state, "timerCompleted", mid, now, msg.method_run_id, {"timerId": msg.command_id}
            )
        elif kind is w.MethodOutcome:
            suffix = _REMOTE.get(msg.status, "remoteMethodFailed")
            run_id = msg.parent_method_run_id
            self._on(state, suffix, mid, now, run_id, _lazy("remote_outcome", msg))
        elif kind is w.WorkflowTaskCompleted:
            ok = msg.outcome in ("waiting", "completed")
            suffix = "executorCompleted" if ok else "executorFailed"
            result = (msg.workflow_task_id, msg.outcome, msg.error)
            self._on(state, suffix, mid, now, msg.method_run_id, _kept("executor_result", result))
        elif kind is w.CommandTimedOut:
            if any(x is msg for x in state.buffer):
                self._pending.setdefault(state.workflow_id, []).append(msg)
            else:
                self._decide(state, msg, now, mid)

    def _command(self, msg: Any, now: float) -> None:
        """A command sent to the instance (by a client or another workflow): as asked, before
        the engine applied it (Infinitic's command events)."""
        kind = type(msg)
        suffix = _COMMANDS[kind]
        if kind is w.CancelWorkflow:
            detail: Any = {"reason": msg.reason} if msg.reason else None
        elif kind is w.SendSignal:
            detail = _lazy("signal_received", msg)
        elif kind is w.RetryWorkflowTask:
            detail = None
        else:
            detail = _lazy("retry_task", msg)
        self._event(
            suffix, msg.workflow_name, msg.workflow_id, msg.message_id, now, None, None, detail
        )

    def _resolve(self, state: w.WorkflowState, now: float, cause: str) -> None:
        waiting = self._pending.pop(state.workflow_id)
        left = []
        for msg in waiting:
            if any(x is msg for x in state.buffer):
                left.append(msg)
            else:
                self._decide(state, msg, now, msg.message_id)
        if left:
            self._pending[state.workflow_id] = left

    def _decide(
        self, state: w.WorkflowState, msg: w.SendSignal | w.CommandTimedOut, now: float, mid: str
    ) -> None:
        if isinstance(msg, w.SendSignal):
            received = _signal_received(state, msg)
            suffix = "signalReceived" if received else "signalDiscarded"
            # the message's own id is its `signal` command event's
            self._on(state, suffix, f"{mid}/{suffix}", now, None, _lazy("signal_received", msg))
            return
        cmd = _find(state, msg.method_run_id, msg.command_id)
        if cmd is None or cmd.status != "timed_out":
            return  # it completed in time: the deadline changed nothing
        detail = _kept("timed_out", cmd)
        if cmd.kind == "task":
            self._on(state, "taskTimedOut", mid, now, msg.method_run_id, detail)
            return
        self._on(state, "remoteMethodTimedOut", mid, now, msg.method_run_id, detail)
        child = cmd.target_id or cmd.command_id
        self._event(
            "methodTimedOut", cmd.name, child, f"{mid}/methodTimedOut", now,
            cmd.command_id, cmd.method, None,
        )  # fmt: skip

    # -- what it sent --------------------------------------------------------------------

    def _sent(self, msg: Any, delay: float, state: w.WorkflowState, now: float) -> None:
        kind = type(msg)
        if kind is m.ExecuteTask:
            detail = _lazy("task_dispatched", msg)
            self._on(state, "taskDispatched", msg.message_id, now, msg.method_run_id, detail)
        elif kind is w.ExecuteWorkflowTask:
            run = msg.method_run
            self._event(
                "executorDispatched", state.workflow_name, state.workflow_id, msg.message_id,
                now, run.method_run_id, run.method_name, {"taskId": msg.workflow_task_id},
            )  # fmt: skip
        elif kind is w.DispatchWorkflow or kind is w.DispatchMethod:
            if msg.parent_workflow_id == state.workflow_id:
                detail = _lazy("remote_dispatched", msg)
                run_id = msg.parent_method_run_id
                self._on(state, "remoteMethodDispatched", msg.message_id, now, run_id, detail)
        elif kind is w.TimerCompleted:
            # the engine sends one only to arm a timer; one already due when armed (a short
            # timer on a busy engine) goes out with no delay and is dispatched all the same
            timer = (msg.command_id, now + delay, now)
            self._on(
                state, "timerDispatched", f"{msg.message_id}/dispatched", now,
                msg.method_run_id, _kept("timer_dispatched", timer),
            )  # fmt: skip
        elif kind is w.SendSignal or (kind is w.TagCommand and msg.action == "signal"):
            self._on(state, "signalDispatched", msg.message_id, now, None,
                     _lazy("signal_dispatched", msg))  # fmt: skip

    # -- what it decided -----------------------------------------------------------------

    def _transitions(
        self, msg: Any, state: w.WorkflowState, now: float, later: bool = False
    ) -> None:
        """`later`: a later message of the same step was applied to `state`; the statuses it
        shows are that message's to tell, but a start is this one's."""
        wid = state.workflow_id
        memo = self._memo.get(wid)
        started = (
            type(msg) is w.DispatchWorkflow
            and state.dispatch_id == msg.message_id
            and state.created_at == now
        )
        if later:
            if started:
                self._started(msg, state, now)
                # as the start left it: one method run, running
                main = state.method_runs[0] if state.method_runs else None
                self._memo[wid] = ("running", {main.method_run_id: "running"} if main else {})
            return
        if memo is None and not started:
            # first seen by this process (another worker or a restart): a baseline, no events
            if state.status not in _TERMINAL:
                self._memo[wid] = (
                    state.status,
                    {r.method_run_id: r.status for r in state.method_runs},
                )
            return
        before, runs = memo if memo is not None else ("", {})
        if not started and state.status == before and len(runs) == len(state.method_runs):
            for run in state.method_runs:
                if runs.get(run.method_run_id) != run.status:
                    break
            else:
                return  # the usual case: nothing began or ended
        mid = msg.message_id
        name = state.workflow_name
        if started:
            self._started(msg, state, now)
        now_runs: dict[str, str] = {}
        for run in state.method_runs:
            status = run.status
            now_runs[run.method_run_id] = status
            if runs.get(run.method_run_id) != status and status in _ENDED:
                outcome = (run.method_run_id, run.method_name, status, run.result, run.error)
                self._event(
                    _ENDED[status], name, wid, f"{mid}/{run.method_run_id}", now,
                    run.method_run_id, run.method_name, _kept("method_outcome", outcome),
                )  # fmt: skip
        status = state.status
        if status != before and before:
            if status in ("completed", "failed", "canceled"):
                self._event(status, name, wid, f"{mid}/{status}", now, None, None, None)
            if self.observations is not None:
                delta = (status == "running") - (before == "running")
                self.observations.workflow(name, status if delta <= 0 else "reopened", delta)
        if status in _TERMINAL:
            self._memo.pop(wid, None)
            self._pending.pop(wid, None)
        else:
            self._memo[wid] = (status, now_runs)

    def _started(self, msg: Any, state: w.WorkflowState, now: float) -> None:
        main = state.method_runs[0] if state.method_runs else None
        self._event(
            "started", state.workflow_name, state.workflow_id, f"{msg.message_id}/started", now,
            main.method_run_id if main else None, main.method_name if main else None, None,
        )  # fmt: skip
        if self.observations is not None:
            self.observations.workflow(state.workflow_name, "started", 1)


def _lazy(builder: str, msg: Any) -> tuple[str, bytes]:
    """A detail built from `msg` when the event's data is read: the builder's name and the
    message's envelope bytes. Records hold names, strings and bytes, which the garbage collector
    does not track: they wait for the listener long enough to reach its oldest generation, and
    the messages, closures and functions they held made every full collection longer (that,
    more than the taps' own work, was what a listener cost)."""
    return (builder, m.encode(msg))


def _kept(builder: str, arg: Any) -> tuple[str, Any]:
    """The same for what is not a message (kept as it is: small tuples, seldom an object)."""
    return (builder, arg)


def _find(state: w.WorkflowState, run_id: str, command_id: str) -> w.Command | None:
    for run in state.method_runs:
        if run.method_run_id == run_id:
            for cmd in run.commands:
                if cmd.command_id == command_id:
                    return cmd
    return None


def _signal_received(state: w.WorkflowState, msg: w.SendSignal) -> bool:
    # the engine records the message id of each signal it delivers next to it, in the receive
    marker = msg.message_id.encode()
    return any(
        cmd.kind == "receive" and cmd.name == msg.channel and marker in cmd.result
        for run in state.method_runs
        for cmd in run.commands
    )
