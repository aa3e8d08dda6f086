"""The garbage collector of a worker process, set for throughput (`tuneGarbageCollector`).

A worker keeps many objects alive for long (the states it caches, the live method runs, the
messages in flight) and allocates many short-lived ones per message. With CPython's default
thresholds the young generation is collected every 700 net allocations and, as the cache
fills, full collections walk every live object again: about a tenth of a busy worker's CPU
(Pulsar + Redis, workload (a): 1.8 s of 18 s, benchmarks/README.md). Freezing what start-up
created and collecting less often brings it to about 2%; the cost is cyclic garbage kept a
little longer. An application that set its own thresholds is left alone.
"""

from __future__ import annotations

import gc

CPYTHON_DEFAULTS = (700, 10, 10)
WORKER_THRESHOLDS = (25_000, 20, 20)


def tune() -> bool:
    """Sets the worker's thresholds, once per process; False when they were not CPython's
    defaults (the application's own, or set already)."""
    if gc.get_threshold() != CPYTHON_DEFAULTS:
        return False
    gc.collect()
    # what start-up made (modules, classes, the config) is never scanned again
    gc.freeze()
    gc.set_threshold(*WORKER_THRESHOLDS)
    return True
