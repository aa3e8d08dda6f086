"""Records the golden workflow histories of this release into a NEW folder:

    python -m tests.compat.record_histories tests/compat/histories/v<N>

Run it once per history format version (infinitic.common.history.VERSION) that adds a folder;
never to rewrite a folder already committed (it refuses): those are what older releases wrote.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from infinitic.testing import WorkflowEnvironment
from tests.compat import history_workflows as hw

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def record(folder: Path) -> list[Path]:
    if folder.exists():
        raise SystemExit(f"{folder} exists: golden histories are never re-recorded")
    histories: dict[str, dict[str, Any]] = {}
    with WorkflowEnvironment(
        services=hw.SERVICES, workflows=list(hw.WORKFLOWS.values()), start=START
    ) as env:
        client = env.client
        answered = client.dispatch(client.new_workflow(hw.GoldenFlow).run, 4)
        flow = client.get_workflow_by_id(hw.GoldenFlow, answered.id)
        assert client.dispatch(flow.note, "first").result() == 1
        env.sleep(timedelta(hours=2))  # past its first timer: the flow now waits for an answer
        sender = client.dispatch(client.new_workflow(hw.GoldenSender).send, answered.id, "yes")
        assert sender.result() == "sent"
        histories["sender"] = env.history(hw.GoldenSender, sender.id)  # before its retention ends
        answered.result()
        histories["flow-answered"] = env.history(hw.GoldenFlow, answered.id)
        waiting = client.dispatch(client.new_workflow(hw.GoldenFlow).run, 2)
        histories["flow-waiting"] = env.history(hw.GoldenFlow, waiting.id)
        [child] = [
            c
            for c in histories["flow-waiting"]["method_runs"][0]["commands"]
            if c["kind"] == "workflow"
        ]
        histories["child"] = env.history(hw.GoldenChild, child["id"])
        expired = client.dispatch(client.new_workflow(hw.GoldenFlow).run, 1)
        expired.result()
        histories["flow-expired"] = env.history(hw.GoldenFlow, expired.id)
    folder.mkdir(parents=True)
    written = []
    for label, history in histories.items():
        path = folder / f"{label}.json"
        path.write_text(json.dumps(history, indent=1, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in record(Path(sys.argv[1])):
        print(path)
