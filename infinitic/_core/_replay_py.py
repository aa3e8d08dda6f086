"""Workflow history replay: matching commands by position and evaluating steps.

Pure-Python twin of `_replay_c` (same names, signatures, errors and results) and the type
source for tools. A `History` holds the commands of one method run in columns; replay asks it
whether a command re-created at a position matches the one recorded there (by the workflow's
check mode), and what a step (an await on a command, a signal, or an all/any tree of them)
evaluates to as of an event index, so a replay sees exactly what the first run saw.

Steps are trees of tuples: ("c", i) for command i, ("r", i, n) for the n-th signal of receive
command i, ("all", (children...)) and ("any", (children...)).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CANCELED",
    "CHECK_NONE",
    "CHECK_SIMPLE",
    "CHECK_STRICT",
    "COMPLETED",
    "FAILED",
    "ONGOING",
    "STATUS_NAMES",
    "TIMED_OUT",
    "UNKNOWN",
    "History",
    "step_signature",
]

ONGOING = 0
UNKNOWN = 1
CANCELED = 2
FAILED = 3
TIMED_OUT = 4
COMPLETED = 5
STATUS_NAMES = ("ongoing", "unknown", "canceled", "failed", "timed_out", "completed")

CHECK_NONE = 0
CHECK_SIMPLE = 1
CHECK_STRICT = 2

Step = tuple[Any, ...]


class History:
    """The commands of one method run, in columns indexed by command order."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.targets: list[str] = []
        self.args_hashes: list[str] = []
        self.statuses: list[int] = []
        self.completed_at: list[int] = []
        self.signal_at: list[list[int]] = []

    def __len__(self) -> int:
        return len(self.kinds)

    def add(
        self,
        kind: str,
        target: str,
        args_hash: str,
        status: int,
        completed_at: int,
        signal_at: list[int] | None = None,
    ) -> int:
        """Appends a command; returns its index."""
        if not 0 <= status <= COMPLETED:
            raise ValueError(f"unknown command status {status}")
        signals = list(signal_at) if signal_at else []
        self.kinds.append(kind)
        self.targets.append(target)
        self.args_hashes.append(args_hash)
        self.statuses.append(status)
        self.completed_at.append(completed_at)
        self.signal_at.append(signals)
        return len(self.kinds) - 1

    def mismatch(self, index: int, kind: str, target: str, args_hash: str, mode: int) -> str | None:
        """None if the command at `index` matches under the check mode, else what differs."""
        if mode == CHECK_NONE:
            return None
        if self.kinds[index] != kind:
            return f"expected a {self.kinds[index]} command, found a {kind} command"
        if self.targets[index] != target:
            return f"expected {self.targets[index]}, found {target}"
        if mode == CHECK_STRICT and self.args_hashes[index] != args_hash:
            return f"the arguments of {target} changed"
        return None

    def evaluate(self, step: Step, as_of: int) -> tuple[int, Step, int]:
        """(status, deciding leaf, event index it was decided at) of `step` as of `as_of`.

        all: the earliest failure among members, else ongoing while any member is, else
        completed at the latest member's index. any: the earliest completed member, else
        ongoing while any member is, else the first failure in member order (decided when the
        last member failed).
        """
        tag = step[0]
        if tag == "c":
            i = step[1]
            at = self.completed_at[i]
            if at < 0 or at > as_of:
                return ONGOING, step, -1
            return self.statuses[i], step, at
        if tag == "r":
            i, nth = step[1], step[2]
            signals = self.signal_at[i]
            if nth < len(signals) and signals[nth] <= as_of:
                return COMPLETED, step, signals[nth]
            at = self.completed_at[i]
            if at >= 0 and at <= as_of and self.statuses[i] != COMPLETED:
                return self.statuses[i], step, at
            return ONGOING, step, -1
        if tag == "all":
            failure: tuple[int, Step, int] | None = None
            ongoing = False
            latest = -1
            for child in step[1]:
                result = self.evaluate(child, as_of)
                status = result[0]
                if status == ONGOING:
                    ongoing = True
                elif status != COMPLETED:
                    if failure is None or result[2] < failure[2]:
                        failure = result
                elif result[2] > latest:
                    latest = result[2]
            if failure is not None:
                return failure
            if ongoing:
                return ONGOING, step, -1
            return COMPLETED, step, latest
        if tag == "any":
            best: tuple[int, Step, int] | None = None
            first_failure: tuple[int, Step, int] | None = None
            ongoing = False
            latest = -1
            for child in step[1]:
                result = self.evaluate(child, as_of)
                status = result[0]
                if status == COMPLETED:
                    if best is None or result[2] < best[2]:
                        best = result
                elif status == ONGOING:
                    ongoing = True
                else:
                    if first_failure is None:
                        first_failure = result
                    if result[2] > latest:
                        latest = result[2]
            if best is not None:
                return best
            if ongoing or first_failure is None:
                return ONGOING, step, -1
            return first_failure[0], first_failure[1], latest
        raise ValueError(f"unknown step node {tag!r}")


def step_signature(step: Step) -> str:
    """A compact text of a step's shape (kinds and command indexes), compared on replay."""
    tag = step[0]
    if tag == "c":
        return f"c{step[1]}"
    if tag == "r":
        return f"r{step[1]}.{step[2]}"
    if tag == "all" or tag == "any":
        text: str = tag + "(" + ",".join(step_signature(child) for child in step[1]) + ")"
        return text
    raise ValueError(f"unknown step node {tag!r}")
