"""How a workflow state is laid out in storage: one record, or a head and segments.

A state is saved after every message. Re-encoding all of a long method run each time made a
fan-out of n tasks cost O(n) per completion (O(n²) in all); so a run with more than `SEGMENT`
commands or steps keeps them in segments of `SEGMENT` items under keys of their own, and a save
rewrites only the segments that changed since the engine last read or wrote the state, plus
the head (the state without those runs' lists, and the segment keys). Segment keys are written
once (the head's new version is in their name) and deleted once replaced, so every write of a
save, head and segments, is a compare-and-set applied all at once by `Storage.put_many`.
Small states (most) keep their runs inside the head.

The head is a `SavedState`: the state, its segment keys, and the outbox of the save that wrote
it (the messages that save sends, written in the same compare-and-set: see engine.py). Heads
written before the outbox (a bare `WorkflowState`, or a `StoredState`) are still read, with an
empty outbox.

What changed is told by the state's waiting index (waiting.py): outcomes mark the segment of
their command, a workflow task's result the segments it extends; any other message replaces the
index with one that marks everything changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ...common import messages as m
from ...common import workflow_messages as w
from ...errors import StorageError
from ...storage.base import Storage, Write
from .waiting import SEGMENT

Slot = tuple[str, str, int]  # (method run id, "commands" | "steps", segment number)


@dataclass
class Layout:
    """The segment keys of a state as last read or written, and how many each list has."""

    keys: dict[Slot, str] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    # what the head that was read holds beside the state: its outbox (maybe never sent: the
    # writer may have died after its save) and the engine that wrote it
    outbox: list[w.OutboxItem] = field(default_factory=list)
    owner: str = ""


class NotAState(Exception):
    """The value under a state key is not a workflow state."""


# `N` fields may hold any registered message: what a corrupt record puts there is refused on
# load, not met later as an AttributeError in a handler
_ITEMS = {"commands": w.Command, "steps": w.Step}


def _check(state: w.WorkflowState, key: str) -> None:
    for run in state.method_runs:
        if type(run) is not w.MethodRun:
            raise NotAState(f"state under {key} holds a {type(run).__name__} as a method run")
        for kind, cls in _ITEMS.items():
            for item in getattr(run, kind):
                if type(item) is not cls:
                    raise NotAState(
                        f"state under {key} holds a {type(item).__name__} among the {kind} "
                        f"of method run {run.method_run_id}"
                    )


async def load(storage: Storage, key: str) -> tuple[w.WorkflowState, int, Layout] | None:
    stored = await storage.get(key)
    if stored is None:
        return None
    decoded = m.decode(stored[0])
    if isinstance(decoded, w.WorkflowState):
        _check(decoded, key)
        return decoded, stored[1], Layout()
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
    layout = Layout(outbox=outbox, owner=owner)
    runs = {run.method_run_id: run for run in decoded.state.method_runs}
    parts: dict[tuple[str, str], list[w.StateSegment]] = {}
    for segment_key in decoded.segments:
        segment = m.decode(found[segment_key][0])
        if (
            not isinstance(segment, w.StateSegment)
            or segment.method_run_id not in runs
            or segment.kind not in _ITEMS
            or any(type(item) is not _ITEMS[segment.kind] for item in segment.items)
        ):
            raise NotAState(f"{segment_key} is not a segment of the state under {key}")
        layout.keys[(segment.method_run_id, segment.kind, segment.first // SEGMENT)] = segment_key
        count = layout.counts.get((segment.method_run_id, segment.kind), 0)
        layout.counts[(segment.method_run_id, segment.kind)] = count + 1
        parts.setdefault((segment.method_run_id, segment.kind), []).append(segment)
    for (run_id, kind), segments in parts.items():
        items = [item for s in sorted(segments, key=lambda s: s.first) for item in s.items]
        setattr(runs[run_id], kind, items)
    return decoded.state, stored[1], layout


def _segmented(run: w.MethodRun) -> bool:
    return len(run.commands) > SEGMENT or len(run.steps) > SEGMENT


def writes(
    key: str,
    state: w.WorkflowState,
    version: int,
    layout: Layout,
    changed: set[Slot] | None,
    outbox: list[w.OutboxItem] | None = None,
    owner: str = "",
) -> tuple[list[Write], Layout]:
    """The writes that save `state` over `version` with `outbox`, and the layout they leave.

    `changed`: the slots changed since `layout` was read or written; None: any of them. The
    work is in proportion to what changed, not to the size of the state.
    """
    runs = state.method_runs
    outbox = outbox or []
    if not layout.keys and not any(_segmented(run) for run in runs):
        # the layout left is what a next save needs; what it read beside the state is not
        return [(key, m.encode(w.SavedState(state, [], outbox, owner)), version)], layout
    keys = dict(layout.keys) if changed is not None else {}
    counts: dict[tuple[str, str], int] = {}
    segment_writes: list[Write] = []
    emptied: list[tuple[w.MethodRun, list[w.Command], list[w.Step]]] = []
    for position, run in enumerate(runs):
        if not _segmented(run):
            continue
        emptied.append((run, run.commands, run.steps))
        for kind, items in (("commands", run.commands), ("steps", run.steps)):
            count = (len(items) + SEGMENT - 1) // SEGMENT
            counts[(run.method_run_id, kind)] = count
            if changed is None:
                numbers: Iterable[int] = range(count)
            else:
                # what changed, and the segments that did not exist yet (lists only grow)
                known = layout.counts.get((run.method_run_id, kind), 0)
                numbers = sorted(
                    {n for (r, k, n) in changed if r == run.method_run_id and k == kind}
                    | set(range(known, count))
                )
            for number in numbers:
                first = number * SEGMENT
                segment = w.StateSegment(
                    run.method_run_id, kind, first, items[first : first + SEGMENT]
                )
                fresh = f"{key}#{position}{kind[0]}{number}.{version + 1}"
                segment_writes.append((fresh, m.encode(segment), 0))
                old = keys.get((run.method_run_id, kind, number))
                if old is not None and changed is not None:
                    segment_writes.append((old, None, 1))
                keys[(run.method_run_id, kind, number)] = fresh
    if changed is None:
        live = set(keys.values())
        segment_writes += [(k, None, 1) for k in layout.keys.values() if k not in live]
    # the head is the state with the segmented lists left out: emptied for the encoding only
    try:
        for run, _, _ in emptied:
            run.commands, run.steps = [], []
        head = m.encode(w.SavedState(state, sorted(keys.values()), outbox, owner))
    finally:
        for run, commands, steps in emptied:
            run.commands, run.steps = commands, steps
    return [(key, head, version), *segment_writes], Layout(keys, counts)
