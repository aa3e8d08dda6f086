"""The workflow tag engine: tags (and custom ids) to workflow ids."""

from .engine import WorkflowTagEngine

__all__ = ["WorkflowTagEngine"]
