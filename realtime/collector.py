"""CPython's cyclic garbage collector, set for a worker that handles batches.

A batch of 10,000 executions makes a few hundred thousand objects (entries, executions, their
UUIDs, breaker results, script arguments). They live until the batch is done, and then their
reference counts free them: they hold no cycles, so the cyclic collector has nothing to find
in them. At the default thresholds it still ran:

- a young collection every 700 allocations;
- through those, it promoted a batch's objects, still alive, into the oldest generation;
- and every half second or so, a full collection that walked the whole heap (~75 ms each).

`bench.realtime`, with the collector timed inside the workers: 23 % of their CPU went to it.
"""

from __future__ import annotations

import gc

# Allocations, net of what was freed, before a young collection. A batch's objects are freed
# when it is done, so only growth that outlives batches (reference cycles, caches) gets this
# far: a collection still comes when cyclic garbage piles up, at most this many objects.
YOUNG_THRESHOLD = 100_000


def settle() -> None:
    """Call once the process is set up: what it has made so far (modules, clients, pools)
    lives as long as the process and is never scanned again (`gc.freeze`), and young
    collections wait for `YOUNG_THRESHOLD` (the older generations keep their defaults)."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
