"""Tools for users' own tests: an in-memory environment that skips time, and replay checks."""

from .environment import WorkflowEnvironment
from .history import fetch_history
from .replay import replay, replay_all

__all__ = ["WorkflowEnvironment", "fetch_history", "replay", "replay_all"]
