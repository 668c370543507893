"""The Salsa.jl example's demonstration data: batch k has x = k in every row and y = x + uniform noise in [-1, 1].

``regression_demo`` trains on it, and the dashboard's samples include it.
"""
from __future__ import annotations

import numpy as np


def seed_batches(count: int = 10, rows: int = 100, seed: int = 0) -> list[str]:
    """``count`` batches of ``rows`` rows as CSV text (header ``x,y``), from one random generator seeded ``seed``."""
    rng = np.random.default_rng(seed)
    batches = []
    for number in range(1, count + 1):
        x = np.full(rows, float(number))
        y = x + rng.uniform(-1.0, 1.0, rows)
        batches.append("x,y\n" + "\n".join(f"{a!r},{b!r}" for a, b in zip(x.tolist(), y.tolist())) + "\n")
    return batches
