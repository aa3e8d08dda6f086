"""The worker: the composition root that wires config, transport, storage and executors."""

from .worker import InfiniticWorker

__all__ = ["InfiniticWorker"]
