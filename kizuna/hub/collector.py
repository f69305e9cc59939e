"""The cyclic garbage collector's settings in the hub's long-running processes (``kizuna hub serve`` and
its workers, their check helpers, ``kizuna hub sync``).

A write of 1,000 objects allocates some 40,000 dicts, lists and tuples (the parsed envelope, the checked
objects, their index entries, the rows) that reference counting frees when the request ends. At Python's
default thresholds (700, 10, 10) the collector walks them some 25 times a request while they are still
alive, moves them into the older generations, and every few requests walks everything the process holds
(the read index entries waiting to be written among it): 8-10 ms of an envelope's 60-70 ms in the server
(``gc.callbacks``, 30 envelopes of 1,000 through the TAXII API). At :data:`SERVER_GC_THRESHOLDS` a request's
objects are mostly freed before a collection sees them (a young collection counts objects allocated and
not yet freed), and the older generations keep their usual ratios (a full collection after ten of the
middle one), so garbage cycles (exceptions with their tracebacks, closed connections) are still freed in a
process that runs for months. One-shot ingest runs use their own, larger thresholds
(:data:`kizuna.ingest.convproc.RUN_GC_THRESHOLDS`).
"""

from __future__ import annotations

import gc

__all__ = ["SERVER_GC_THRESHOLDS", "settle"]

#: (generation 0, 1, 2) thresholds of a hub process: a young collection every 10,000 containers allocated
#: and not freed (700 by default); the older generations as by default.
SERVER_GC_THRESHOLDS = (10_000, 10, 10)


def settle() -> None:
    """Call once start-up is done: what exists now lives for the whole run (frozen, out of every
    collection), and the collector runs at :data:`SERVER_GC_THRESHOLDS` from here on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVER_GC_THRESHOLDS)
