"""Tools for users' own tests: an in-memory environment that skips time, and replay checks."""

from .environment import WorkflowEnvironment
from .replay import replay, replay_all

__all__ = ["WorkflowEnvironment", "replay", "replay_all"]
