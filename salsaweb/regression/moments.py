"""Sufficient statistics of least squares as plain values: row count, means and centred scatter.

For rows ``(x, y)`` the statistics are ``n``, the mean of ``(x, y)`` and the centred
scatter matrix ``M2 = sum((x, y) - mean)^T ((x, y) - mean)``.  Together they hold exactly
what ``X^T X``, ``X^T y``, ``y^T y`` and the bias column's sums ``1^T X``, ``1^T y`` hold
(``A^T A = M2 + n mean mean^T`` for ``A = [X, y]``), but in centred form, so features
with a large mean and a small spread keep their precision.  Two sets combine exactly with
Chan's parallel update in O(features^2), which is what makes a new batch cost only its
own rows.  Rows are never taken out by running the update backwards (subtracting a
batch's statistics from a total cancels catastrophically when that batch dominates the
total); ``tree`` merges per-batch statistics instead, so a replaced or deleted batch
costs only its own rows and O(log batches) merges.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: ``{"n": int, "mean": (p+1,) array, "m2": (p+1, p+1) array}``; the last entry is the target.
Moments = dict[str, Any]


def moments_empty(features: int) -> Moments:
    """The statistics of no rows."""
    return {"n": 0, "mean": np.zeros(features + 1), "m2": np.zeros((features + 1, features + 1))}


def moments_of(X: np.ndarray, y: np.ndarray) -> Moments:
    """The statistics of the rows of ``X`` with targets ``y``: O(rows x features^2)."""
    if X.shape[0] == 0:
        return moments_empty(X.shape[1])
    data = np.empty((X.shape[0], X.shape[1] + 1))
    data[:, :-1] = X
    data[:, -1] = y
    mean = data.mean(axis=0)
    data -= mean
    return {"n": int(X.shape[0]), "mean": mean, "m2": data.T @ data}


def moments_merge(a: Moments, b: Moments) -> Moments:
    """The statistics of the union of two row sets (Chan et al.'s pairwise update), exact up to rounding."""
    if b["n"] == 0:
        return a
    if a["n"] == 0:
        return b
    n = a["n"] + b["n"]
    delta = b["mean"] - a["mean"]
    mean = a["mean"] + delta * (b["n"] / n)
    m2 = a["m2"] + b["m2"] + np.outer(delta, delta * (a["n"] * b["n"] / n))
    return {"n": n, "mean": mean, "m2": m2}
