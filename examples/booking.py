"""The booking saga (car, flight and hotel in parallel; compensation when one fails), run on
the embedded default. The code lives in `infinitic.demo.booking` so `infinitic demo` has it
wherever infinitic is installed.

    python -m examples.booking
"""

from __future__ import annotations

from infinitic import InfiniticWorker
from infinitic.demo.booking import CONFIG, BookingRequest, BookingWorkflow

if __name__ == "__main__":
    with InfiniticWorker.from_config(CONFIG) as worker:
        saga = worker.client.new_workflow(BookingWorkflow)
        print(saga.book(BookingRequest("ann")))
        print(saga.book(BookingRequest("bob", fail="hotel")))
