"""Workflows as code: the Workflow base class, Deferred, all_of/any_of, channels."""

from .base import Workflow
from .channel import Channel
from .deferred import Deferred, DeferredStatus, all_of, any_of

__all__ = ["Channel", "Deferred", "DeferredStatus", "Workflow", "all_of", "any_of"]
