"""Per-batch statistics merged through a balanced tree over batch numbers: updates and range queries that only add.

Leaf ``i`` holds the statistics of batch ``i + 1`` (``moments``: n, mean, centred scatter);
node ``(level, i)`` holds those of the batches ``i * 2**level + 1 .. (i + 1) * 2**level``,
the Chan merge of its two children.  Nothing is ever subtracted: a replaced or deleted
batch gets a new leaf and its ``log2(batches)`` ancestors are merged again from their
children, so no running total carries the rounding error of rows that are gone (the
cancellation that subtracting a batch's statistics from a total suffers when a batch with
a large offset leaves).  Any
range of batches (a sliding window) is the merge of at most ``2 log2(batches)`` nodes.
Each node also counts the batches under it that have a value (``present``), so "the K
highest-numbered batches that exist" is found in O(log batches) too.

The tree is a plain value (so it can be a memo): levels of *chunks* of ``CHUNK`` nodes,
each chunk four arrays.  An update copies only the chunks on the changed leaves' paths
and shares every other chunk with the previous tree, so a change costs O(log batches)
chunk copies, not a copy of the whole tree; the levels grow by appending, never by
re-laying out nodes.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .moments import Moments, moments_empty, moments_merge

#: Nodes per chunk: what an update copies per level.
CHUNK = 16

#: ``{"width": p + 1, "leaves": int, "levels": tuple[level, ...]}``; a level is a tuple of chunks
#: ``(n, present, mean, m2)`` with shapes ``(c,)``, ``(c,)``, ``(c, p + 1)``, ``(c, p + 1, p + 1)``.
Tree = dict[str, Any]
#: One node: ``(n, present, mean, m2)``.
Node = tuple[int, int, np.ndarray, np.ndarray]


def tree_empty(features: int) -> Tree:
    """A tree over no batches."""
    return {"width": features + 1, "leaves": 0, "levels": ()}


def _chunk(width: int, size: int) -> tuple[np.ndarray, ...]:
    return (np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64), np.zeros((size, width)),
            np.zeros((size, width, width)))


class _Writer:
    """Copy-on-write access to a tree's nodes during one update."""

    def __init__(self, tree: Tree) -> None:
        self.width = tree["width"]
        self.levels = [list(level) for level in tree["levels"]]
        self.copied: set[tuple[int, int]] = set()

    def node(self, level: int, index: int) -> Node:
        """Node ``(level, index)`` as ``(n, present, mean, m2)``; an absent node has no rows."""
        chunks = self.levels[level] if level < len(self.levels) else []
        c, o = divmod(index, CHUNK)
        if c >= len(chunks) or o >= len(chunks[c][0]):
            return 0, 0, np.zeros(self.width), np.zeros((self.width, self.width))
        n, present, mean, m2 = chunks[c]
        return int(n[o]), int(present[o]), mean[o], m2[o]

    def put(self, level: int, index: int, n: int, present: int, mean: np.ndarray, m2: np.ndarray) -> None:
        """Set node ``(level, index)``, copying its chunk first (once per update) and growing it as needed."""
        while len(self.levels) <= level:
            self.levels.append([])
        chunks = self.levels[level]
        c, o = divmod(index, CHUNK)
        while len(chunks) <= c:
            chunks.append(_chunk(self.width, 0))
        chunk = chunks[c]
        if (level, c) not in self.copied or len(chunk[0]) <= o:
            size = max(len(chunk[0]), o + 1)
            grown = _chunk(self.width, size)
            for new, old in zip(grown, chunk):
                new[: len(old)] = old
            chunks[c] = chunk = grown
            self.copied.add((level, c))
        chunk[0][o], chunk[1][o], chunk[2][o], chunk[3][o] = n, present, mean, m2

    def tree(self, leaves: int) -> Tree:
        """The tree as written, over ``leaves`` leaves."""
        return {"width": self.width, "leaves": leaves, "levels": tuple(tuple(level) for level in self.levels)}


def _merge(a: Node, b: Node) -> Node:
    merged = moments_merge({"n": a[0], "mean": a[2], "m2": a[3]}, {"n": b[0], "mean": b[2], "m2": b[3]})
    return merged["n"], a[1] + b[1], merged["mean"], merged["m2"]


def tree_set(tree: Tree, leaves: dict[int, Moments | None]) -> Tree:
    """A new tree with the given leaves (0-based index -> statistics, None for no value) and their ancestors.

    O(changed leaves x log(leaves)) merges and chunk copies; untouched chunks are shared.
    """
    if not leaves:
        return tree
    writer = _Writer(tree)
    size = max(tree["leaves"], max(leaves) + 1)
    for index, moments in leaves.items():
        if moments is None:
            writer.put(0, index, 0, 0, np.zeros(writer.width), np.zeros((writer.width, writer.width)))
        else:
            writer.put(0, index, int(moments["n"]), 1, moments["mean"], moments["m2"])
    top = max(size - 1, 1).bit_length()  # levels 0..top: the top node covers every leaf
    dirty = set(leaves)
    for level in range(1, top + 1):
        dirty = {index // 2 for index in dirty}
        for index in sorted(dirty):
            parent = _merge(writer.node(level - 1, 2 * index), writer.node(level - 1, 2 * index + 1))
            writer.put(level, index, *parent)
    return writer.tree(size)


def tree_range(tree: Tree, lo: int, hi: int) -> Moments:
    """The statistics of leaves ``lo .. hi - 1``: the merge of at most 2 log2(leaves) nodes, left to right."""
    reader = _Writer(tree)
    left, right = [], []
    level = 0
    lo, hi = max(lo, 0), min(hi, tree["leaves"])
    while lo < hi:
        if lo & 1:
            left.append(reader.node(level, lo))
            lo += 1
        if hi & 1:
            hi -= 1
            right.append(reader.node(level, hi))
        lo, hi, level = lo // 2, hi // 2, level + 1
    total = moments_empty(tree["width"] - 1)
    for n, _, mean, m2 in left + right[::-1]:
        total = moments_merge(total, {"n": n, "mean": mean, "m2": m2})
    return total


def tree_last_present(tree: Tree, hi: int, count: int) -> int:
    """The lowest leaf ``lo`` such that ``count`` leaves in ``lo .. hi - 1`` have a value (0 if fewer do).

    O(log leaves): the range's nodes are scanned from the right, then one is descended.
    """
    reader = _Writer(tree)
    nodes = []
    lo, hi, level = 0, min(hi, tree["leaves"]), 0
    while lo < hi:
        if hi & 1:
            hi -= 1
            nodes.append((level, hi))
        lo, hi, level = lo // 2, hi // 2, level + 1
    seen = 0
    for level, index in nodes:  # right to left
        present = reader.node(level, index)[1]
        if seen + present < count:
            seen += present
            continue
        while level > 0:
            level, index = level - 1, 2 * index + 1
            present = reader.node(level, index)[1]
            if seen + present < count:
                seen += present
                index -= 1
        return index
    return 0
