"""A client process of the multi-process test: dispatches FaultWorkflow for values
[first, first + count), waits for every result and prints one JSON line: the results, and how
many outcome messages reached each handle.

    python -m tests.transport.sqlite_client_app CONFIG FIRST COUNT
"""

from __future__ import annotations

import json
import sys
import time

from infinitic import InfiniticClient
from tests.faults.fault_apps import FaultWorkflow, OutcomeCounter, mode_of, wait_all


def main() -> None:
    config, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    client = InfiniticClient.from_config_file(config)
    try:
        counter = OutcomeCounter(client)
        flow = client.new_workflow(FaultWorkflow)
        values = range(first, first + count)
        handles = [client.dispatch(flow.run, i, mode_of(i)) for i in values]
        results = wait_all(handles, time.monotonic() + 240)
        delivered = [counter.delivered[(h.id, h.id)] for h in handles]
        print(
            json.dumps(
                {
                    "values": list(values),
                    "results": results,
                    "delivered": delivered,
                    "ids": [h.id for h in handles],
                }
            ),
            flush=True,
        )
    finally:
        client.close()


if __name__ == "__main__":
    main()
