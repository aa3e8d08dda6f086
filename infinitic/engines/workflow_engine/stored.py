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

What changed is told by the step (`Dirty`, in its context): outcomes mark the segment of their
command, a workflow task's result the segments it extends; any other message marks everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ...common import messages as m
from ...common import workflow_messages as w
from ...storage.base import IndexEntry, Storage, Write
from ...storage.workflow_state import NotAState, read_state

__all__ = ["SEGMENT", "Dirty", "Layout", "NotAState", "index_entry", "load", "writes"]

# commands (or steps) per storage segment
SEGMENT = 128

Slot = tuple[str, str, int]  # (method run id, "commands" | "steps", segment number)


class Dirty:
    """The segments a step changed (`slots`); None: any may have (the state is written whole)."""

    __slots__ = ("slots",)

    def __init__(self) -> None:
        self.slots: set[Slot] | None = set()

    def everything(self) -> None:
        self.slots = None

    def command(self, method_run_id: str, position: int) -> None:
        if self.slots is not None:
            self.slots.add((method_run_id, "commands", position // SEGMENT))

    def extended(self, run: w.MethodRun, commands_from: int, steps_from: int) -> None:
        """`run` got commands from index `commands_from` and steps from `steps_from` on."""
        if self.slots is None:
            return
        for kind, start, size in (
            ("commands", commands_from, len(run.commands)),
            ("steps", steps_from, len(run.steps)),
        ):
            for number in range(start // SEGMENT, (size + SEGMENT - 1) // SEGMENT):
                self.slots.add((run.method_run_id, kind, number))


@dataclass
class Layout:
    """The segment keys of a state as last read or written, and how many each list has."""

    keys: dict[Slot, str] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    # what the head that was read holds beside the state: its outbox (maybe never sent: the
    # writer may have died after its save) and the engine that wrote it
    outbox: list[w.OutboxItem] = field(default_factory=list)
    owner: str = ""


async def load(storage: Storage, key: str) -> tuple[w.WorkflowState, int, Layout] | None:
    loaded = await read_state(storage, key)
    if loaded is None:
        return None
    state, version, segments, outbox, owner = loaded
    layout = Layout(outbox=outbox, owner=owner)
    for segment_key, segment in segments.items():
        layout.keys[(segment.method_run_id, segment.kind, segment.first // SEGMENT)] = segment_key
        count = layout.counts.get((segment.method_run_id, segment.kind), 0)
        layout.counts[(segment.method_run_id, segment.kind)] = count + 1
    return state, version, layout


def index_entry(state: w.WorkflowState) -> IndexEntry:
    """The state's entry in the workflow index, written with it when its status changes."""
    return IndexEntry(
        state.workflow_name,
        state.workflow_id,
        state.status,
        state.tags,
        state.created_at,
        state.updated_at,
    )


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
