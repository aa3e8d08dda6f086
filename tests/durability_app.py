"""A worker process for the kill -9 test: `start N IDS_FILE DB` then `finish IDS_FILE DB`."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from infinitic.common.workflow_messages import WorkflowState
from tests import sample_workflows as sw
from tests.helpers import workflow_worker


def start(count: int, ids_file: Path, db: str) -> None:
    stored: set[str] = set()
    all_stored = threading.Event()
    with workflow_worker({"sqlite": {"path": db}}) as worker:

        def on_state(state: WorkflowState) -> None:
            stored.add(state.workflow_id)
            if len(stored) >= count:
                all_stored.set()

        worker.add_workflow_listener(on_state)
        client = worker.client
        stub = client.new_workflow(sw.DurableWorkflow)
        handles = [client.dispatch(stub.run, i, 0.3) for i in range(count)]
        ids_file.write_text(json.dumps([h.id for h in handles]))
        # in the embedded mode a start is durable once its engine stored it
        if not all_stored.wait(120):
            print(f"only {len(stored)} of {count} workflows were stored", flush=True)
            sys.exit(1)
        print("started", flush=True)
        threading.Event().wait()  # until killed


def finish(ids_file: Path, db: str) -> None:
    ids = json.loads(ids_file.read_text())
    with workflow_worker({"sqlite": {"path": db}}) as worker:
        client = worker.client
        results = []
        for i in ids:
            try:
                stub = client.get_workflow_by_id(sw.DurableWorkflow, i)
                results.append(client.wait(stub, timeout=60))
            except Exception as exc:  # reported, so a failure says which workflow and why
                print(f"workflow {i}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                raise
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "start":
        start(int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
    else:
        finish(Path(sys.argv[2]), sys.argv[3])
