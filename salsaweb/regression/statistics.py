"""Derived sufficient statistics: per-batch statistics in a tree, and the statistics training uses.

``batch_tree`` is a maintained function (``runtime.changes``): it keeps every batch's
statistics as a leaf of a balanced tree over batch numbers (``tree``) and, per update,
replaces the leaves of the batches that changed (appended, replaced, emptied or deleted)
and merges their ancestors again: O(changed rows x features^2 + changed batches x
log(batches) x features^2), whatever the total.  Numerics only ever add (Chan merges of
children), so taking a batch out leaves no cancellation error behind, however large its
values were.  It still depends on every batch it ever read, so a batch replaced or
deleted later is not missed; with nothing to maintain from (first run, new code, a failed
run) all batches are read.  A batch with no value (deleted, or never set) is a leaf with
no rows that does not count as present, an emptied batch one with no rows that does.

``statistics`` answers from the tree: batches ``1 .. batch_count``, or with the setting
``window`` = K only the K highest-numbered batches among them that have a value, as one
range query (O(log batches) merges).  So appending to a windowed dataset costs the new
batch's rows plus O(log batches) merges, and so does a window or l2 change.

Why the tree is one maintained value and not a memoized function per node: the engine
verifies a memo's *derived* dependencies by walking them, so a root over B memoized
nodes would be walked through all 2B nodes after every change, while a maintained memo's
*input* dependencies verify in O(changes).  Copy-on-write chunks (``tree``) keep the
per-change copying at O(log batches) chunks.
"""
from __future__ import annotations

from typing import Any

from runtime import MISSING, MissingInputError, Runtime, changes, derived, previous_output

from .inputs import batch, batch_count, training_settings
from .moments import Moments, moments_empty, moments_of
from .tree import tree_empty, tree_last_present, tree_range, tree_set

#: Bump when a helper these functions call (moments.py, tree.py, descent.py) changes its
#: results, so memos computed by the old code are not served (the engine fingerprints only
#: each derived function's own code).
VERSION = 3


@derived(version=VERSION)
def batch_tree(rt: Runtime) -> dict[str, Any]:
    """Every batch's statistics as a tree (``tree``), ``known``: the batches it covers, ``edits``: changes to them."""
    count = batch_count(rt)
    previous, delta = previous_output(rt), changes(rt)
    if previous is None or delta is None:
        features = len(training_settings(rt)["features"])
        leaves = {number - 1: _read(rt, number, features) for number in range(1, count + 1)}
        return {"tree": tree_set(tree_empty(features), leaves), "known": count, "edits": 0}
    known, edits = previous["known"], previous["edits"]
    features = previous["tree"]["width"] - 1
    leaves: dict[int, Moments | None] = {}
    for change in delta:
        if change.function is not batch:
            continue  # batch_count is read above; the settings' features never change
        leaves[change.key[0] - 1] = _moments(change.new, features)
        edits += 1
    for number in range(known + 1, count + 1):
        leaves[number - 1] = _read(rt, number, features)
    if not leaves:
        return previous
    return {"tree": tree_set(previous["tree"], leaves), "known": max(known, count), "edits": edits}


@derived(version=VERSION)
def statistics(rt: Runtime) -> dict[str, Any]:
    """The statistics of the batches training uses, plus ``batches`` (the count), ``first`` (the window's first
    batch number) and ``edits`` (how many times a batch already covered changed: replaced, emptied, deleted)."""
    count = batch_count(rt)
    window = training_settings(rt).get("window")
    held = batch_tree(rt)
    tree = held["tree"]
    if window is None:
        first = 0
    elif int(window) < 1:
        first = count
    else:
        first = tree_last_present(tree, count, int(window))
    total = tree_range(tree, first, count)
    return {"batches": count, "first": first + 1, "edits": held["edits"], "n": total["n"], "mean": total["mean"],
            "m2": total["m2"]}


def _moments(value: Any, features: int) -> Moments | None:
    """The statistics of a batch's value ``(X, y)``; None for ``MISSING`` (no value)."""
    if value is MISSING:
        return None
    X, y = value
    if X.shape[0] == 0:
        return moments_empty(features)
    return moments_of(X, y)


def _read(rt: Runtime, number: int, features: int) -> Moments | None:
    """Read batch ``number`` (a dependency either way) and return its statistics; None if it has no value."""
    try:
        value = batch(rt, number)
    except MissingInputError:
        value = MISSING
    return _moments(value, features)
