"""Reading a workflow state from a storage: its key, and the head-and-segments layout.

The engine (engines/workflow_engine/stored.py) writes states; reading one is shared by the
engine and by the client (`describe_workflow`), which may not import the engine.
"""

from __future__ import annotations

from ..common import messages as m
from ..common import workflow_messages as w
from ..errors import StorageError
from .base import Storage

__all__ = ["NotAState", "read_state", "state_key"]


class NotAState(Exception):
    """The value under a state key is not a workflow state."""


# `N` fields may hold any registered message: what a corrupt record puts there is refused on
# load, not met later as an AttributeError in a handler
ITEMS = {"commands": w.Command, "steps": w.Step}


def state_key(workflow_name: str, workflow_id: str) -> str:
    return f"workflow.state:{workflow_name}:{workflow_id}"


def _check(state: w.WorkflowState, key: str) -> None:
    for run in state.method_runs:
        if type(run) is not w.MethodRun:
            raise NotAState(f"state under {key} holds a {type(run).__name__} as a method run")
        for kind, cls in ITEMS.items():
            for item in getattr(run, kind):
                if type(item) is not cls:
                    raise NotAState(
                        f"state under {key} holds a {type(item).__name__} among the {kind} "
                        f"of method run {run.method_run_id}"
                    )


async def read_state(
    storage: Storage, key: str
) -> (
    tuple[w.WorkflowState, int, dict[str, w.StateSegment], list[w.OutboxItem], str] | None
):  # fmt: skip
    """(state with its segmented lists put back, version, segments by key, the head's outbox,
    the engine that wrote it), or None if absent.

    Reads every head the engine ever wrote: `SavedState`, and the older `StoredState` and bare
    `WorkflowState` (their outbox empty). Raises `NotAState` for what is not a state,
    `EnvelopeError` for undecodable bytes and `StorageError` when segments are missing.
    """
    stored = await storage.get(key)
    if stored is None:
        return None
    decoded = m.decode(stored[0])
    if isinstance(decoded, w.WorkflowState):
        _check(decoded, key)
        return decoded, stored[1], {}, [], ""
    if isinstance(decoded, w.SavedState):
        if any(type(item) is not w.OutboxItem for item in decoded.outbox):
            raise NotAState(f"state under {key} holds an outbox item that is not one")
        outbox, owner = decoded.outbox, decoded.owner
    elif isinstance(decoded, w.StoredState):
        outbox, owner = [], ""
    else:
        raise NotAState(f"state under {key} is not a workflow state")
    if type(decoded.state) is not w.WorkflowState:
        raise NotAState(f"state under {key} holds no workflow state")
    _check(decoded.state, key)
    if any(not k.startswith(f"{key}#") or "\x00" in k for k in decoded.segments):
        raise NotAState(f"state under {key} names segments that are not its own")
    found = await storage.get_many(decoded.segments) if decoded.segments else {}
    missing = [k for k in decoded.segments if k not in found]
    if missing:
        raise StorageError(f"state under {key} misses {len(missing)} of its segments")
    runs = {run.method_run_id: run for run in decoded.state.method_runs}
    segments: dict[str, w.StateSegment] = {}
    for segment_key in decoded.segments:
        segment = m.decode(found[segment_key][0])
        if (
            not isinstance(segment, w.StateSegment)
            or segment.method_run_id not in runs
            or segment.kind not in ITEMS
            or any(type(item) is not ITEMS[segment.kind] for item in segment.items)
        ):
            raise NotAState(f"{segment_key} is not a segment of the state under {key}")
        segments[segment_key] = segment
    parts: dict[tuple[str, str], list[w.StateSegment]] = {}
    for segment in segments.values():
        parts.setdefault((segment.method_run_id, segment.kind), []).append(segment)
    for (run_id, kind), in_order in parts.items():
        items = [item for s in sorted(in_order, key=lambda s: s.first) for item in s.items]
        setattr(runs[run_id], kind, items)
    return decoded.state, stored[1], segments, outbox, owner
