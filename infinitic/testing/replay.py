"""replay / replay_all: checks that new workflow code still follows recorded histories."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, Union

import orjson

from .. import errors
from ..common import serialization
from ..common import workflow_messages as w
from ..common.history import HistoryError, state_of
from ..common.spec import describe
from ..executors.workflow_run import CHECK_MODES, WorkflowRun
from ..workflow import Workflow


class HasHistory(Protocol):
    """What `describe_workflow(...)` returns: anything with a `history()` document."""

    def history(self) -> Mapping[str, Any]: ...


HistorySource = Union[Mapping[str, Any], str, "os.PathLike[str]", HasHistory]


def replay(workflow: type[Workflow], history: HistorySource, *, check_mode: str = "simple") -> None:
    """Replays every method run of `history` on `workflow` (an implementation class).

    `history` is a dict from `WorkflowEnvironment.history(...)` or `describe_workflow(...)
    .history()`, the path of a JSON file (`infinitic workflow describe --json` output, or the
    history itself), or an object with a `history()` method. Raises `WorkflowUpdatedError` at
    the first position where the code does something else than what the history recorded:
    another command or target (and other arguments in `strict` mode), an await where there was
    a command, or, in a method run that completed, a command the history does not have or one it
    has that the code no longer reaches. Exceptions the workflow code raises where the history
    recorded a success propagate as they are.
    """
    if check_mode not in CHECK_MODES:
        raise ValueError(f"check_mode must be one of {sorted(CHECK_MODES)}, got {check_mode!r}")
    state = state_of(_document(history))
    spec = describe(workflow)
    if spec.name != state.workflow_name:
        raise ValueError(
            f"this is a history of workflow {state.workflow_name!r}, and {workflow.__qualname__} "
            f"is workflow {spec.name!r}"
        )
    for run in state.method_runs:
        _replay_run(workflow, state, run, check_mode)


def replay_all(
    workflows: type[Workflow] | Mapping[Any, type[Workflow]],
    folder: str | os.PathLike[str],
    *,
    check_mode: str = "simple",
) -> list[Path]:
    """Replays every `*.json` history of `folder` (sorted by name); returns the files replayed.

    `workflows` is one implementation class (histories of other workflows are skipped) or a map
    from workflow name or interface to implementation (a history of an unmapped workflow is an
    error). Every file is replayed; if any diverges, one `WorkflowUpdatedError` names each.
    """
    by_name: dict[str, type[Workflow]]
    strict_names = not isinstance(workflows, type)
    if isinstance(workflows, type):
        by_name = {describe(workflows).name: workflows}
    else:
        by_name = {(k if isinstance(k, str) else describe(k).name): v for k, v in workflows.items()}
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder of histories at {root}")
    replayed: list[Path] = []
    failures: list[str] = []
    for path in sorted(root.glob("*.json")):
        document = _document(path)
        name = state_of(document).workflow_name
        impl = by_name.get(name)
        if impl is None:
            if strict_names:
                raise ValueError(f"{path}: a history of workflow {name!r}, which the map lacks")
            continue
        try:
            replay(impl, document, check_mode=check_mode)
        except errors.WorkflowUpdatedError as exc:
            failures.append(f"{path.name}: {exc}")
        replayed.append(path)
    if failures:
        raise errors.WorkflowUpdatedError(
            f"{len(failures)} of {len(replayed)} histories diverge from the code:\n"
            + "\n".join(failures)
        )
    return replayed


def _document(history: HistorySource) -> Mapping[str, Any]:
    if isinstance(history, (str, os.PathLike)):
        path = Path(history)
        try:
            data = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise FileNotFoundError(f"{path}: cannot read the history: {exc.strerror}") from None
        except orjson.JSONDecodeError as exc:
            raise HistoryError(f"{path}: not JSON: {exc}") from None
        return _document(data)
    if not isinstance(history, Mapping) and callable(getattr(history, "history", None)):
        return _document(history.history())
    if isinstance(history, Mapping) and "format" not in history and "history" in history:
        return _document(history["history"])  # `workflow describe --json` output
    if not isinstance(history, Mapping):
        raise TypeError(
            f"a history is a dict, a JSON file's path or a WorkflowInfo, got {history!r}"
        )
    return history


class _Snapshots(dict[str, bytes]):
    """The property snapshots a history kept. The engine drops those of ended method runs: a
    missing one reads as the properties the replay itself has at that point (what a
    deterministic run had, unless another method run changed them meanwhile)."""

    run: WorkflowRun | None = None

    def __missing__(self, key: str) -> bytes:
        assert self.run is not None
        return self.run.snapshot()


def _replay_run(
    workflow: type[Workflow], state: w.WorkflowState, run: w.MethodRun, check_mode: str
) -> None:
    spec = describe(workflow).methods.get(run.method_name)
    snapshots = _Snapshots(state.props_store)
    task = w.ExecuteWorkflowTask(
        message_id="replay",
        workflow_id=state.workflow_id,
        workflow_name=state.workflow_name,
        workflow_task_id="replay",
        method_run=run,
        tags=state.tags,
        meta=state.meta,
        properties=state.properties,
        props_store=snapshots,
        as_of=state.event_index,
        emitted_at=state.updated_at,
    )
    replayed = WorkflowRun(task, None, check_mode)
    snapshots.run = replayed
    instance = replayed.instantiate(workflow)
    if spec is None:
        raise replayed._updated(0, f"method {run.method_name!r} is not in the code any more")
    where = f"{state.workflow_name}.{run.method_name}"
    raw = serialization.loads(run.args, f"the arguments of {where}")
    args = [
        serialization.convert(v, spec.param_types[i] if i < len(spec.param_types) else Any, where)
        for i, v in enumerate(raw)
    ]
    try:
        outcome, _ = replayed.execute(getattr(instance, spec.attribute), args)
    except errors.WorkflowUpdatedError:
        raise
    except Exception:
        if run.status != "completed":
            return  # it failed, or may have (canceled): what it recorded matched so far
        raise
    recorded = replayed._last_position
    if run.status == "completed":
        new = [c.position for c in replayed.new_commands]
        new += [s.position for s in replayed.new_steps if s.position > recorded]
        if new:
            kind = "command" if min(new) in {c.position for c in replayed.new_commands} else "await"
            raise replayed._updated(
                min(new), f"the code goes on with a new {kind} where the method run had ended"
            )
    if run.status == "completed" or outcome == "completed":
        if replayed.position < recorded:
            raise replayed._updated(
                replayed.position + 1,
                "the history goes on here, and the code "
                + ("returns before it" if outcome == "completed" else "stops earlier"),
            )
