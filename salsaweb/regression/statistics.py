"""Derived sufficient statistics: per-batch statistics in a tree of small maintained nodes, and what training uses.

``node(rt, level, index)`` is one node of the tree of ``tree.py`` (``FANOUT`` children each),
a maintained function (``runtime.changes``) whose only dependencies are inputs:

- level 0, a block of ``FANOUT`` batch numbers: it reads the statistics of all of them
  (``batch_moments``, stored with each batch's rows, which the tree never reads), set or not (so
  a batch appended later is a change it hears of), and per update replaces the leaves of the
  batches that changed (appended, replaced, emptied or deleted): O(changed batches x features^2).
- level L > 0: it depends on ``batch_count`` and on every batch of its range up to it (read with
  ``batch_moments.has``, without their values); told which batches changed, it reads the changed
  children again with ``untracked`` and merges its rows: O(fanout x features^2).

So a change re-executes the ``height + 1`` nodes on its batch's path and nothing else, and
verifying a node asks the store's change log which of its inputs changed (O(changes)) instead
of walking the nodes below it, which ``untracked`` keeps out of its dependencies: sound
because the node depends itself on every batch the child does.  Numerics only ever add (Chan
merges of children), so taking a batch out leaves no cancellation error behind.  A batch with
no value (deleted, or never set) is a leaf with no rows that does not count as present; an
emptied batch has no rows but is present.

``statistics`` reads the root (the lowest node whose range holds ``batch_count``) and, with the
setting ``window`` = K, the nodes on the path to the window's first batch (the K
highest-numbered batches that have a value), and merges the rows that cover the range:
O(height) node reads and O(fanout x height) merges.

Why not one memo per block of batches and a merge of the blocks' tops (the previous design):
a change rewrote a whole block (128 batches' rows, ~270 KB for 10 features) and a read loaded
and verified B / 128 block tops, which grew on the database stores.  Why not plain derived
nodes: the engine verifies a memo's *derived* dependencies by walking them, so the root would
walk all its descendants after every change.
"""
from __future__ import annotations

from typing import Any

from runtime import MISSING, MissingInputError, Runtime, changes, derived, previous_output, untracked

from .inputs import batch_count, batch_moments, training_settings
from .moments import Moments, moments_empty
from .tree import (
    Node,
    leaf_row,
    node_empty,
    node_set,
    node_summary,
    packed_merge,
    packed_moments,
    tree_range_rows,
    tree_window_start,
)

#: Bump when a helper these functions call (moments.py, tree.py, descent.py) changes its
#: results, so memos computed by the old code are not served (the engine fingerprints only
#: each derived function's own code).
VERSION = 6
#: Children per node: what a change rewrites per level (FANOUT rows) against the height (log_FANOUT batches).
FANOUT = 32


@derived(version=VERSION)
def node(rt: Runtime, level: int, index: int) -> Node:
    """Node ``index`` of ``level``: the statistics of batches ``index * FANOUT**(level + 1) + 1 ..`` (``FANOUT**(level
    + 1)`` of them) as one packed row per child (see ``tree``); level 0 keeps ``known`` (leaves ever set), higher
    levels ``reach`` (the highest batch number depended on)."""
    return _block(rt, index) if level == 0 else _upper(rt, level, index)


def _block(rt: Runtime, index: int) -> Node:
    """A level-0 node: its children are the batches ``index * FANOUT + 1 .. (index + 1) * FANOUT``."""
    first = index * FANOUT + 1
    previous, delta = previous_output(rt), changes(rt)
    if previous is None or delta is None:
        features = len(training_settings(rt)["features"])
        leaves = {j: _read(rt, first + j) for j in range(FANOUT)}
        known = max((j + 1 for j, m in leaves.items() if m is not None), default=0)
        children = {j: (leaf_row(m, features + 1), 0 if m is None else first + j, 0)
                    for j, m in leaves.items() if j < known}
        return {**node_set(node_empty(features + 1), children), "known": known}
    known, width = previous["known"], previous["width"]
    children = {}
    for change in delta:
        if change.function is not batch_moments:
            continue  # the settings' features never change
        j = change.key[0] - first
        moments = None if change.new is MISSING else change.new
        edits = int(previous["edits"][j]) if j < len(previous["edits"]) else 0
        if j < known:
            edits += 1  # replaced, emptied, deleted, or set again after a deletion
        elif change.new is not MISSING:
            known = j + 1
        children[j] = (leaf_row(moments, width), 0 if moments is None else change.key[0], edits)
    if not children:
        return previous
    return {**node_set(previous, children), "known": known}


def _upper(rt: Runtime, level: int, index: int) -> Node:
    """A node above level 0: its children are nodes ``index * FANOUT ..`` of ``level - 1``."""
    span = FANOUT ** level  # batches per child
    first = index * span * FANOUT + 1
    end = first + span * FANOUT - 1
    previous, delta = previous_output(rt), changes(rt)
    if previous is None or delta is None:
        reach = min(end, batch_count(rt))
        for number in range(first, reach + 1):
            batch_moments.has(rt, number)
        below = [untracked(rt, node, level - 1, index * FANOUT + j) for j in range((reach - first) // span + 1)]
        children = {j: node_summary(child) for j, child in enumerate(below)}
        return {**node_set(node_empty(below[0]["width"]), children), "reach": reach}
    # ``batch_count`` is not read again: its change, if any, is in the delta (one stored edge less to look up).
    reach, stale = previous["reach"], set()
    for change in delta:
        if change.function is batch_moments:
            stale.add((change.key[0] - first) // span)
        elif change.function is batch_count and change.new is not MISSING:
            reach = max(reach, min(end, change.new))
    for number in range(previous["reach"] + 1, reach + 1):  # batches appended in this range
        batch_moments.has(rt, number)
        stale.add((number - first) // span)
    if not stale:
        return previous
    children = {j: node_summary(untracked(rt, node, level - 1, index * FANOUT + j)) for j in sorted(stale)}
    return {**node_set(previous, children), "reach": reach}


def height(count: int) -> int:
    """The level of the root for ``count`` batches: the lowest whose one node covers batches 1..count."""
    level = 0
    while FANOUT ** (level + 1) < count:
        level += 1
    return level


@derived(version=VERSION)
def statistics(rt: Runtime) -> dict[str, Any]:
    """The statistics of the batches training uses, plus ``batches`` (the count), ``first`` (the window's first
    batch number) and ``edits`` (how many times a batch already set changed: replaced, emptied, deleted)."""
    count = batch_count(rt)
    window = training_settings(rt).get("window")
    width = len(training_settings(rt)["features"]) + 1
    if count < 1:
        return _result(count, 1, 0, moments_empty(width - 1))
    top = height(count)

    def read(level: int, index: int) -> Node:
        return node(rt, level, index)

    edits = node_summary(read(top, 0))[2]
    first = 1
    if window is not None:
        need = int(window)
        if need < 1:
            return _result(count, count + 1, edits, moments_empty(width - 1))
        first = tree_window_start(read, FANOUT, top, count, need) or 1
    rows = tree_range_rows(read, FANOUT, top, first, count)
    return _result(count, first, edits, packed_moments(packed_merge(rows, width), width))


def _result(count: int, first: int, edits: int, total: Moments) -> dict[str, Any]:
    return {"batches": count, "first": first, "edits": edits, "n": total["n"], "mean": total["mean"],
            "m2": total["m2"]}


def _read(rt: Runtime, number: int) -> Moments | None:
    """Read batch ``number``'s statistics (a dependency either way); None if it has no value."""
    try:
        return batch_moments(rt, number)
    except MissingInputError:
        return None
