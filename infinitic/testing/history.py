"""Reads an instance's history from a deployment's storage, in the format `replay` takes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from .. import errors
from ..common.history import history_of
from ..common.spec import describe
from ..config import WorkerConfig, load_config, load_config_file
from ..engines.workflow_engine import stored
from ..storage import Storage, create_storage
from ..storage.workflow_state import state_key


def fetch_history(
    config: Mapping[str, Any] | WorkerConfig | str | os.PathLike[str],
    workflow: type | str,
    workflow_id: str,
) -> dict[str, Any]:
    """The history of instance `workflow_id` of `workflow` (its interface, or its name), read
    from the storage that `config` (a worker config, or its YAML file) names: save it as JSON
    next to your tests and `replay` it against new code before deploying. Ended instances are
    there for their retention, failed ones until canceled. Call it from sync code."""
    cfg = (
        load_config_file(config)
        if isinstance(config, (str, os.PathLike))
        else load_config(config, source="<dict>")
    )
    storage = create_storage(
        {cfg.storage: cfg.storage_options} if cfg.storage_options else cfg.storage
    )

    async def read() -> dict[str, Any]:
        await storage.start()
        try:
            return await read_history(storage, workflow, workflow_id)
        finally:
            await storage.close()

    return asyncio.run(read())


async def read_history(storage: Storage, workflow: type | str, workflow_id: str) -> dict[str, Any]:
    name = workflow if isinstance(workflow, str) else describe(workflow).name
    loaded = await stored.load(storage, state_key(name, workflow_id))
    if loaded is None:
        raise errors.UnknownWorkflowError(
            f"no workflow {name} with id {workflow_id} in the storage (never started, or ended "
            "longer ago than its retention)"
        )
    return history_of(loaded[0])
