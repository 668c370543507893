"""Per-batch statistics in a balanced tree over batch numbers, one small node per memo: updates and queries that only add.

A node at ``level`` 0 has up to ``fanout`` children, the batches ``index * fanout + 1 ..``
(each a leaf: the statistics of that batch, ``moments``: n, mean, centred scatter); a node at
``level`` L > 0 has as children the ``fanout`` nodes of level L - 1 below it, so it covers
``fanout ** (L + 1)`` batch numbers.  A node holds one packed row per child (the child's
statistics, merged) and their merge (``top``).  Nothing is ever subtracted: a replaced or
deleted batch gets a new leaf and the nodes on its path are merged again from their children's
rows, so no total carries the rounding error of rows that are gone (the cancellation that
subtracting a batch's statistics suffers when a batch with a large offset leaves).

Each row also counts the batches under it that have a value (``present``) and each node keeps,
per child, the highest such batch number (``lasts``) and the changes to batches already set
(``edits``).  So a range of batches ending at the newest one (a sliding window) is the merge of
O(fanout x height) rows read from O(height) nodes, and "the K highest-numbered batches that
exist" is found descending one path: ``tree_window_start`` and ``tree_range_rows`` read nodes
through a callback, so the caller (``statistics``) decides how a node is fetched.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .moments import Moments, moments_empty

#: ``{"width": w = p + 1, "rows": (k, 2 + w + w * w) float array, one packed row [n, present, mean..., M2...] per
#: child, "lasts": (k,) ints, "edits": (k,) ints, "top": the rows merged (None for no child)}`` plus what the maker
#: keeps; counts are exact in float64 below 2**53.
Node = dict[str, Any]
#: ``read(level, index)``: the node there.
Read = Callable[[int, int], Node]


def node_empty(width: int) -> Node:
    """A node with no children."""
    return {"width": width, "rows": np.zeros((0, 2 + width + width * width)), "lasts": np.zeros(0, np.int64),
            "edits": np.zeros(0, np.int64), "top": None}


def node_set(node: Node, children: dict[int, tuple[np.ndarray, int, int]]) -> Node:
    """A new node with the given children (index -> (packed row, highest present batch, edits)), ``top`` merged again.

    O(fanout x features^2): the children's rows are merged in one pass.
    """
    if not children:
        return node
    old = len(node["lasts"])
    size = max(old, max(children) + 1)
    rows, lasts, edits = np.zeros((size, node["rows"].shape[1])), np.zeros(size, np.int64), np.zeros(size, np.int64)
    rows[:old], lasts[:old], edits[:old] = node["rows"], node["lasts"], node["edits"]
    for index, (row, last, edit) in children.items():
        rows[index], lasts[index], edits[index] = row, last, edit
    return {**node, "rows": rows, "lasts": lasts, "edits": edits, "top": packed_merge(rows, node["width"])}


def node_summary(node: Node) -> tuple[np.ndarray, int, int]:
    """What a parent keeps of ``node``: its merged row, highest present batch number and edits."""
    row = node["top"] if node["top"] is not None else leaf_row(None, node["width"])
    last = int(node["lasts"].max()) if len(node["lasts"]) else 0
    return row, last, int(node["edits"].sum())


def leaf_row(moments: Moments | None, width: int) -> np.ndarray:
    """A batch's packed row: its statistics, present; or for None (no value) no rows, not present."""
    row = np.zeros(2 + width + width * width)
    if moments is not None:
        row[0], row[1], row[2 : 2 + width], row[2 + width :] = moments["n"], 1, moments["mean"], np.ravel(moments["m2"])
    return row


def tree_window_start(read: Read, fanout: int, height: int, hi: int, count: int) -> int | None:
    """The number of the ``count``-th batch with a value counting down from batch ``hi`` (None if fewer have one).

    Descends from the root at ``height``: reads the nodes on one path (and, where a child straddles
    ``hi``, the path to ``hi``), O(height) nodes.
    """
    return _kth(read, fanout, height, 0, hi, count)[0]


def _kth(read: Read, fanout: int, level: int, index: int, hi: int, count: int) -> tuple[int | None, int]:
    """``tree_window_start`` within node ``(level, index)``: the batch found, or None and how many are still needed."""
    node, span = read(level, index), fanout ** level
    first = index * span * fanout + 1
    for j in range(len(node["lasts"]) - 1, -1, -1):
        lo = first + j * span
        if lo > hi:
            continue
        if lo + span - 1 <= hi or node["lasts"][j] <= hi:  # nothing present beyond hi: the row counts whole
            present = int(node["rows"][j][1])
            if present < count:
                count -= present
                continue
            if level == 0:
                return lo, 0
        found, count = _kth(read, fanout, level - 1, index * fanout + j, hi, count)
        if found is not None:
            return found, 0
    return None, count


def tree_range_rows(read: Read, fanout: int, height: int, lo: int, hi: int) -> list[np.ndarray]:
    """The packed rows, left to right, that together hold exactly the batches ``lo .. hi``.

    A child wholly inside the range (or with nothing present beyond ``hi``) is one row; one that
    straddles an end is descended, so O(height) nodes are read for a range ending at the newest batch.
    """
    return _range(read, fanout, height, 0, lo, hi)


def _range(read: Read, fanout: int, level: int, index: int, lo: int, hi: int) -> list[np.ndarray]:
    node, span = read(level, index), fanout ** level
    first = index * span * fanout + 1
    out: list[np.ndarray] = []
    for j in range(len(node["lasts"])):
        start = first + j * span
        end = start + span - 1
        if end < lo or start > hi:
            continue
        if start >= lo and (end <= hi or node["lasts"][j] <= hi):
            out.append(node["rows"][j])
        else:
            out.extend(_range(read, fanout, level - 1, index * fanout + j, lo, hi))
    return out


def packed_merge(rows: list[np.ndarray] | np.ndarray, width: int) -> np.ndarray | None:
    """Packed rows merged in one pass (None for no rows): counts added, the pooled mean, and the scatter as the
    sum of the rows' scatters plus ``sum_i n_i d_i d_i^T`` with ``d_i`` a row's mean minus the pooled mean.

    Every term added is a scatter (positive semidefinite), so nothing cancels; one matrix product
    for k rows instead of k pairwise updates.
    """
    if len(rows) == 0:
        return None
    packed = np.asarray(rows)
    counts = packed[:, 0]
    total = counts.sum()
    out = np.zeros(packed.shape[1])
    out[0], out[1] = total, packed[:, 1].sum()
    if total == 0:
        return out
    means = packed[:, 2 : 2 + width]
    mean = counts @ means / total
    deviations = means - mean
    out[2 : 2 + width] = mean
    out[2 + width :] = packed[:, 2 + width :].sum(axis=0) + ((deviations.T * counts) @ deviations).ravel()
    return out


def packed_moments(row: np.ndarray | None, width: int) -> Moments:
    """The statistics a packed row holds."""
    if row is None or row[0] == 0:
        return moments_empty(width - 1)
    return {"n": int(row[0]), "mean": row[2 : 2 + width].copy(), "m2": row[2 + width :].reshape(width, width).copy()}
