"""Derived sufficient statistics: their running total over all batches.

``statistics`` is maintained incrementally through ``previous_output``: it remembers how
many batches its total covers, derives the statistics of each batch added since and
merges them in, so a new batch costs O(batch rows x features^2) and its memo depends on
``batch_count`` and the new batches alone (old batches never need re-verifying).  That is
exact because batches are append-only.  Per-batch statistics are not memoized on their
own: nothing else reads them, and each extra memo is a row that the store must load.
"""
from __future__ import annotations

from typing import Any

from runtime import Runtime, derived, previous_output

from .inputs import batch, batch_count, training_settings
from .moments import Moments, moments_empty, moments_merge, moments_of

#: Bump when a helper these functions call (moments.py, descent.py) changes its results,
#: so memos computed by the old code are not served (the engine fingerprints only each
#: derived function's own code).
VERSION = 1


@derived(version=VERSION)
def statistics(rt: Runtime) -> dict[str, Any]:
    """The statistics of every row so far, plus ``batches``: how many batches they cover."""
    count = batch_count(rt)
    previous = previous_output(rt)
    if previous is None or not 0 < previous["batches"] <= count:
        total: Moments = moments_empty(len(training_settings(rt)["features"]))
        first = 1
    else:
        total, first = previous, previous["batches"] + 1
    for number in range(first, count + 1):
        X, y = batch(rt, number)
        total = moments_merge(total, moments_of(X, y))
    return {"batches": count, "n": total["n"], "mean": total["mean"], "m2": total["m2"]}
