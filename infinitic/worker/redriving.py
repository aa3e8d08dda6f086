"""The worker's side of re-driving: its heartbeat, and the sweeps for stalled workflows.

A workflow engine re-sends what a running instance waits on only when the instance stalled
(its state has not moved for `redriveAfterSeconds`) or the worker that saved it last is gone
(its `worker.alive:<id>` key expired or was removed): see `WorkflowEngine.redrive`.
"""

from __future__ import annotations

import asyncio
import logging

from ..engines.workflow_engine import WorkflowEngine
from ..engines.workflow_engine.owners import Owners

log = logging.getLogger("infinitic.worker")


async def heartbeat(owners: Owners) -> None:
    """Keeps this worker alive in the storage until cancelled."""
    while True:
        await asyncio.sleep(owners.ttl_seconds / 3)
        try:
            await owners.beat()
        except Exception:  # noqa: BLE001 - a storage outage: the next beat tries again
            log.warning("could not refresh this worker's liveness key", exc_info=True)


async def sweep(engine: WorkflowEngine, first_after: float) -> None:
    """Re-drives `engine`'s stalled workflows: once after `first_after` seconds (when a worker
    killed just before this one started is known to be gone), then every
    `redrive_after_seconds`."""
    delay = first_after
    while True:
        await asyncio.sleep(delay)
        delay = engine.redrive_after_seconds
        try:
            await engine.redrive()
        except Exception:  # noqa: BLE001 - retried at the next sweep
            log.exception("re-driving stalled %s workflows failed", engine.workflow_name)
