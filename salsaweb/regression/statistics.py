"""Derived sufficient statistics: their running total over the dataset's batches.

``statistics`` is a maintained function (``runtime.changes``): it updates its previous
total with what changed since, so it costs O(rows changed x features^2) whatever the
total, and it still depends on every batch it ever read, so a batch that is replaced or
deleted later is not missed.  Per update:

- each changed batch that the previous total covered has its old rows' statistics taken
  out (``moments_remove``), and its new rows' put in if it is still covered;
- batches ``batch_count`` now covers that the previous total did not are read and merged
  in; those it no longer covers are read and taken out;
- with nothing to maintain from (first run, new code, a failed run), all batches are read.

A batch with no value (deleted, or never set) counts as no rows, as does an emptied one.
Per-batch statistics are not memoized on their own: nothing else reads them, and each
extra memo is a row that the store must load.
"""
from __future__ import annotations

from typing import Any

from runtime import MISSING, MissingInputError, Runtime, changes, derived, previous_output

from .inputs import batch, batch_count, training_settings
from .moments import Moments, moments_empty, moments_merge, moments_of, moments_remove

#: Bump when a helper these functions call (moments.py, descent.py) changes its results,
#: so memos computed by the old code are not served (the engine fingerprints only each
#: derived function's own code).
VERSION = 2


@derived(version=VERSION)
def statistics(rt: Runtime) -> dict[str, Any]:
    """The statistics of the rows of batches 1..``batch_count``, plus ``batches``: that count."""
    count = batch_count(rt)
    previous, delta = previous_output(rt), changes(rt)
    if previous is None or delta is None:
        total = moments_empty(len(training_settings(rt)["features"]))
        for number in range(1, count + 1):
            total = moments_merge(total, _read(rt, number, total))
        return _result(count, total)
    covered = previous["batches"]
    total = previous
    changed: set[int] = set()
    for change in delta:
        if change.function is not batch:
            continue  # batch_count is read above; the settings' features never change
        number = change.key[0]
        changed.add(number)
        if number <= covered:
            total = moments_remove(total, _moments(change.old, total))
        if number <= count:
            total = moments_merge(total, _moments(change.new, total))
    for number in range(covered + 1, count + 1):
        if number not in changed:
            total = moments_merge(total, _read(rt, number, total))
    for number in range(count + 1, covered + 1):
        if number not in changed:
            total = moments_remove(total, _read(rt, number, total))
    return _result(count, total)


def _moments(value: Any, like: Moments) -> Moments:
    """The statistics of a batch's value ``(X, y)``; no rows for ``MISSING`` (``like`` gives the width)."""
    if value is MISSING:
        return moments_empty(len(like["mean"]) - 1)
    X, y = value
    return moments_of(X, y)


def _read(rt: Runtime, number: int, like: Moments) -> Moments:
    """Read batch ``number`` (a dependency either way) and return its statistics; no rows if it has no value."""
    try:
        value = batch(rt, number)
    except MissingInputError:
        value = MISSING
    return _moments(value, like)


def _result(count: int, total: Moments) -> dict[str, Any]:
    return {"batches": count, "n": total["n"], "mean": total["mean"], "m2": total["m2"]}
