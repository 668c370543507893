"""Derived sufficient statistics: per-batch statistics in trees over blocks of batches, and the statistics training uses.

Batches are grouped in blocks of ``BLOCK`` consecutive numbers.  ``block_tree(rt, b)`` is a
maintained function (``runtime.changes``) that keeps every batch of block ``b`` as a leaf
of a balanced tree (``tree``) and, per update, replaces the leaves of the batches that
changed (appended, replaced, emptied or deleted) and merges their ancestors again:
O(changed rows x features^2 + log(BLOCK) x features^2).  Numerics only ever add (Chan
merges of children), so taking a batch out leaves no cancellation error behind, however
large its values were.  It reads all ``BLOCK`` batch numbers of its block, set or not, so
a batch appended later is a change it hears of (no dependency on ``batch_count``, which
every append changes).  A batch with no value (deleted, or never set) is a leaf with no
rows that does not count as present; an emptied batch has no rows but is present.
``block_root(rt, b)`` is the block's top node alone, so a reader of every block loads and
compares one node per block, not the blocks' trees.

``statistics`` merges the blocks' top nodes with the partial blocks at the ends of its
range: batches ``1 .. batch_count``, or with the setting ``window`` = K only the K
highest-numbered batches among them that have a value (each node counts its present
batches, so the window's start is found from the top nodes and one block's tree).

Why blocks and not one tree in one maintained value, nor a memoized function per node:
the engine verifies a memo's *derived* dependencies by walking them, so memoized nodes
would be walked all 2B of them after every change, while a maintained memo's *input*
dependencies verify in O(changes); but one memo holding the whole tree is written whole
by a database store on every change (O(B x features^2) bytes: ~1 MB at 1,000 batches of
10 features, an fsync of that per append on SQLite).  Blocks bound both: a change writes
one block's tree (O(BLOCK x features^2) bytes, ~270 KB for 10 features) and a read walks
B / BLOCK top nodes (8 at 1,000 batches); with 32 the walk (32 verifications and merges)
cost more in memory than the smaller writes saved.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from runtime import MISSING, MissingInputError, Runtime, changes, derived, previous_output

from .inputs import batch, batch_count, training_settings
from .moments import Moments, moments_empty, moments_of
from .tree import (
    packed_merge,
    packed_moments,
    tree_empty,
    tree_last_present,
    tree_present,
    tree_range_packed,
    tree_set,
    tree_top,
)

#: Bump when a helper these functions call (moments.py, tree.py, descent.py) changes its
#: results, so memos computed by the old code are not served (the engine fingerprints only
#: each derived function's own code).
VERSION = 4
#: Batches per block: what one change rewrites (a tree of 2 x BLOCK nodes) against what a read walks (B / BLOCK).
BLOCK = 128


@derived(version=VERSION)
def block_tree(rt: Runtime, block: int) -> dict[str, Any]:
    """The statistics of batches ``block * BLOCK + 1 .. (block + 1) * BLOCK`` as a tree (``tree``), ``known``: how
    many of them were ever set (the highest offset + 1), ``edits``: changes to batches that had been set."""
    first = block * BLOCK + 1
    previous, delta = previous_output(rt), changes(rt)
    if previous is None or delta is None:
        features = len(training_settings(rt)["features"])
        leaves = {i: _read(rt, first + i, features) for i in range(BLOCK)}
        known = max((i + 1 for i, m in leaves.items() if m is not None), default=0)
        return {"tree": tree_set(tree_empty(features), leaves), "known": known, "edits": 0}
    known, edits = previous["known"], previous["edits"]
    features = previous["tree"]["width"] - 1
    leaves: dict[int, Moments | None] = {}
    for change in delta:
        if change.function is not batch:
            continue  # the settings' features never change
        offset = change.key[0] - first
        leaves[offset] = _moments(change.new, features)
        if offset < known:
            edits += 1  # replaced, emptied, deleted, or set again after a deletion
        elif change.new is not MISSING:
            known = offset + 1
    if not leaves:
        return previous
    return {"tree": tree_set(previous["tree"], leaves), "known": known, "edits": edits}


@derived(version=VERSION)
def block_root(rt: Runtime, block: int) -> dict[str, Any]:
    """Block ``block``'s top node (packed, see ``tree``) and its ``edits``."""
    held = block_tree(rt, block)
    return {"row": tree_top(held["tree"]), "edits": held["edits"]}


@derived(version=VERSION)
def statistics(rt: Runtime) -> dict[str, Any]:
    """The statistics of the batches training uses, plus ``batches`` (the count), ``first`` (the window's first
    batch number) and ``edits`` (how many times a batch already set changed: replaced, emptied, deleted)."""
    count = batch_count(rt)
    window = training_settings(rt).get("window")
    width = len(training_settings(rt)["features"]) + 1
    blocks = -(-count // BLOCK)
    roots = [block_root(rt, b) for b in range(blocks)]
    edits = sum(root["edits"] for root in roots)
    if blocks == 0:
        return _result(count, 1, edits, moments_empty(width - 1))
    tail = count - (blocks - 1) * BLOCK  # batches of the last block within the count

    def present(b: int) -> int:
        if b == blocks - 1 and tail < BLOCK:
            return tree_present(block_tree(rt, b)["tree"], tail)
        row = roots[b]["row"]
        return 0 if row is None else int(row[1])

    start_block, start = 0, 0  # the range starts at offset ``start`` of block ``start_block``
    if window is not None:
        need = int(window)
        if need < 1:
            return _result(count, count + 1, edits, moments_empty(width - 1))
        for b in range(blocks - 1, -1, -1):
            here = present(b)
            if here >= need:
                hi = tail if b == blocks - 1 else BLOCK
                start_block, start = b, tree_last_present(block_tree(rt, b)["tree"], hi, need)
                break
            need -= here
    rows: list[np.ndarray | None] = []
    for b in range(start_block, blocks):
        lo = start if b == start_block else 0
        hi = tail if b == blocks - 1 else BLOCK
        if lo == 0 and hi == BLOCK:
            rows.append(roots[b]["row"])
        else:
            rows.append(tree_range_packed(block_tree(rt, b)["tree"], lo, hi))
    return _result(count, start_block * BLOCK + start + 1, edits, packed_moments(packed_merge(rows, width), width))


def _result(count: int, first: int, edits: int, total: Moments) -> dict[str, Any]:
    return {"batches": count, "first": first, "edits": edits, "n": total["n"], "mean": total["mean"],
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
