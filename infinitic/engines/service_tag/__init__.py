"""The service tag engine: tags to the ids of the tasks that carry them, while they run."""

from .engine import ServiceTagEngine

__all__ = ["ServiceTagEngine"]
