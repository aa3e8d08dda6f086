"""Type stub of the compiled `_replay_c`; mirrors its pure-Python twin `_replay_py`."""

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

ONGOING: int
UNKNOWN: int
CANCELED: int
FAILED: int
TIMED_OUT: int
COMPLETED: int
STATUS_NAMES: tuple[str, ...]

CHECK_NONE: int
CHECK_SIMPLE: int
CHECK_STRICT: int

Step = tuple[Any, ...]

class History:
    kinds: list[str]
    targets: list[str]
    args_hashes: list[str]
    statuses: list[int]
    completed_at: list[int]
    signal_at: list[list[int]]
    def __init__(self) -> None: ...
    def __len__(self) -> int: ...
    def add(
        self,
        kind: str,
        target: str,
        args_hash: str,
        status: int,
        completed_at: int,
        signal_at: list[int] | None = None,
    ) -> int: ...
    def mismatch(
        self, index: int, kind: str, target: str, args_hash: str, mode: int
    ) -> str | None: ...
    def evaluate(self, step: Step, as_of: int) -> tuple[int, Step, int]: ...

def step_signature(step: Step) -> str: ...
