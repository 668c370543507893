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

from .moments import Moments, moments_empty

#: Nodes per chunk: what an update copies per level, and what the store walks is ~2 x batches / CHUNK chunks.
CHUNK = 32

#: ``{"width": w = p + 1, "leaves": int, "levels": tuple[level, ...]}``; a level is a tuple of chunks, each one
#: float array of shape ``(c, 2 + w + w * w)``: per node n, present, mean, M2 (flattened); counts are exact in
#: float64 below 2**53.
Tree = dict[str, Any]


def tree_empty(features: int) -> Tree:
    """A tree over no batches."""
    return {"width": features + 1, "leaves": 0, "levels": ()}


def _chunk(width: int, size: int) -> np.ndarray:
    return np.zeros((size, 2 + width + width * width))


class _Nodes:
    """Access to a tree's nodes as packed rows ``[n, present, mean..., M2...]``; copy-on-write when writing."""

    def __init__(self, tree: Tree, write: bool = False) -> None:
        self.width = tree["width"]
        self.levels: list[Any] = [list(level) for level in tree["levels"]] if write else list(tree["levels"])
        self.copied: set[tuple[int, int]] = set()

    def row(self, level: int, index: int) -> np.ndarray | None:
        """Node ``(level, index)``, or None where no node was ever written (no rows, none present)."""
        chunks = self.levels[level] if level < len(self.levels) else ()
        c, o = divmod(index, CHUNK)
        if c >= len(chunks) or o >= len(chunks[c]):
            return None
        return chunks[c][o]

    def put(self, level: int, index: int, row: np.ndarray) -> None:
        """Set node ``(level, index)``, copying its chunk first (once per update) and growing it as needed."""
        while len(self.levels) <= level:
            self.levels.append([])
        chunks = self.levels[level]
        c, o = divmod(index, CHUNK)
        while len(chunks) <= c:
            chunks.append(_chunk(self.width, 0))
        chunk = chunks[c]
        if (level, c) not in self.copied or len(chunk) <= o:
            grown = _chunk(self.width, max(len(chunk), o + 1))
            grown[: len(chunk)] = chunk
            chunks[c] = chunk = grown
            self.copied.add((level, c))
        chunk[o] = row

    def tree(self, leaves: int) -> Tree:
        """The tree as written, over ``leaves`` leaves."""
        return {"width": self.width, "leaves": leaves, "levels": tuple(tuple(level) for level in self.levels)}


def _merge(a: np.ndarray | None, b: np.ndarray | None, w: int) -> np.ndarray | None:
    """Two packed nodes merged (Chan's update, as ``moments_merge``), counts of present batches added."""
    if a is None or b is None:
        return b if a is None else a
    na, nb = a[0], b[0]
    if na == 0 or nb == 0:
        out = (b if na == 0 else a).copy()
        out[1] = a[1] + b[1]
        return out
    n = na + nb
    out = a + b  # right for n, present and the M2 sum; the mean is set below
    delta = b[2 : 2 + w] - a[2 : 2 + w]
    out[2 : 2 + w] = a[2 : 2 + w] + delta * (nb / n)
    out[2 + w :] += np.outer(delta, delta * (na * nb / n)).ravel()
    return out


def _leaf(moments: Moments | None, w: int) -> np.ndarray:
    row = np.zeros(2 + w + w * w)
    if moments is not None:
        row[0], row[1], row[2 : 2 + w], row[2 + w :] = moments["n"], 1, moments["mean"], np.ravel(moments["m2"])
    return row


def tree_set(tree: Tree, leaves: dict[int, Moments | None]) -> Tree:
    """A new tree with the given leaves (0-based index -> statistics, None for no value) and their ancestors.

    O(changed leaves x log(leaves)) merges and chunk copies; untouched chunks are shared.
    """
    if not leaves:
        return tree
    nodes, w = _Nodes(tree, write=True), tree["width"]
    size = max(tree["leaves"], max(leaves) + 1)
    for index, moments in leaves.items():
        nodes.put(0, index, _leaf(moments, w))
    top = max(size - 1, 1).bit_length()  # levels 0..top: the top node covers every leaf
    dirty = set(leaves)
    for level in range(1, top + 1):
        dirty = {index // 2 for index in dirty}
        for index in sorted(dirty):
            parent = _merge(nodes.row(level - 1, 2 * index), nodes.row(level - 1, 2 * index + 1), w)
            nodes.put(level, index, parent if parent is not None else _leaf(None, w))
    return nodes.tree(size)


def tree_range(tree: Tree, lo: int, hi: int) -> Moments:
    """The statistics of leaves ``lo .. hi - 1``: the merge of at most 2 log2(leaves) nodes, left to right."""
    return packed_moments(tree_range_packed(tree, lo, hi), tree["width"])


def tree_range_packed(tree: Tree, lo: int, hi: int) -> np.ndarray | None:
    """``tree_range`` as a packed node (None for no rows and no batch present)."""
    nodes, w = _Nodes(tree), tree["width"]
    left, right = [], []
    level = 0
    lo, hi = max(lo, 0), min(hi, tree["leaves"])
    if lo == 0 and hi == tree["leaves"] and hi > 1:  # every leaf: the top node, no merge
        left, lo = [nodes.row(max(hi - 1, 1).bit_length(), 0)], hi
    while lo < hi:
        if lo & 1:
            left.append(nodes.row(level, lo))
            lo += 1
        if hi & 1:
            hi -= 1
            right.append(nodes.row(level, hi))
        lo, hi, level = lo // 2, hi // 2, level + 1
    return packed_merge(left + right[::-1], w)


def tree_last_present(tree: Tree, hi: int, count: int) -> int:
    """The ``count``-th leaf with a value counting down from ``hi - 1`` (0 if fewer have one): a window's start.

    O(log leaves): the range's nodes are scanned from the right, then one is descended.
    """
    reader = _Nodes(tree)
    nodes = []
    lo, hi, level = 0, min(hi, tree["leaves"]), 0
    while lo < hi:
        if hi & 1:
            hi -= 1
            nodes.append((level, hi))
        lo, hi, level = lo // 2, hi // 2, level + 1
    seen = 0
    for level, index in nodes:  # right to left
        present = _present(reader.row(level, index))
        if seen + present < count:
            seen += present
            continue
        while level > 0:
            level, index = level - 1, 2 * index + 1
            present = _present(reader.row(level, index))
            if seen + present < count:
                seen += present
                index -= 1
        return index
    return 0


def _present(row: np.ndarray | None) -> int:
    return 0 if row is None else int(row[1])


def tree_top(tree: Tree) -> np.ndarray | None:
    """The node over every leaf, packed ``[n, present, mean..., M2...]`` (None for a tree of no leaves)."""
    if tree["leaves"] == 0:
        return None
    return _Nodes(tree).row(max(tree["leaves"] - 1, 1).bit_length(), 0)


def tree_present(tree: Tree, hi: int) -> int:
    """How many of leaves ``0 .. hi - 1`` have a value: O(log leaves)."""
    nodes, total, level = _Nodes(tree), 0, 0
    hi = min(hi, tree["leaves"])
    while hi > 0:
        if hi & 1:
            total += _present(nodes.row(level, hi - 1))
        hi, level = hi // 2, level + 1
    return total


def packed_merge(rows: list[np.ndarray | None], width: int) -> np.ndarray | None:
    """Packed nodes merged left to right (Chan's update; present counts added)."""
    total = None
    for row in rows:
        total = _merge(total, row, width)
    return total


def packed_moments(row: np.ndarray | None, width: int) -> Moments:
    """The statistics a packed node holds."""
    if row is None or row[0] == 0:
        return moments_empty(width - 1)
    return {"n": int(row[0]), "mean": row[2 : 2 + width].copy(), "m2": row[2 + width :].reshape(width, width).copy()}
