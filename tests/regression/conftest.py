"""Shared helpers for the regression tests: synthetic data and runtimes loaded with batches."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from runtime import Runtime
from salsaweb.regression import inputs
from salsaweb.regression.modes import Mode


def make_settings(features: int, **overrides: Any) -> dict[str, Any]:
    """Training settings as the runtime input holds them, defaults as a new dataset has them."""
    settings = {
        "features": tuple(f"x{i}" for i in range(features)),
        "learning_rate": "auto",
        "momentum": "auto",
        "max_iterations": 100,
        "tolerance": 1e-6,
        "standardize": True,
    }
    settings.update(overrides)
    return settings


def load_runtime(
    batches: Sequence[tuple[np.ndarray, np.ndarray]], rt: Runtime | None = None, **overrides: Any
) -> Runtime:
    """An in-memory runtime with the settings, zero starting points and the given batches set as inputs."""
    rt = rt if rt is not None else Runtime()
    features = batches[0][0].shape[1] if batches else overrides.pop("features_count", 1)
    inputs.training_settings.set(rt, make_settings(features, **overrides))
    for mode in Mode.values:
        inputs.initial_model.set(rt, mode, None)
    inputs.batch_count.set(rt, 0)
    for number, (X, y) in enumerate(batches, start=1):
        inputs.batch_put(rt, number, (X, y))
        inputs.batch_count.set(rt, number)
    return rt


def correlated_batches(
    count: int, rows: int, features: int = 10, *, correlation: float = 0.8, seed: int = 0, noise: float = 1.0
) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """The benchmark's badly conditioned data: equicorrelated features, spreads 1..10, mean 2."""
    rng = np.random.default_rng(seed)
    corr = np.full((features, features), correlation)
    np.fill_diagonal(corr, 1.0)
    factor = np.linalg.cholesky(corr)
    spread = np.linspace(1.0, 10.0, features)
    truth = rng.standard_normal(features)
    out = []
    for _ in range(count):
        X = (rng.standard_normal((rows, features)) @ factor.T) * spread + 2.0
        out.append((X, X @ truth + 0.5 + noise * rng.standard_normal(rows)))
    return out, truth


def lstsq(batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, float]:
    """numpy's least-squares weights and bias over all rows (the reference)."""
    X = np.vstack([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    solution = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    return solution[:-1], float(solution[-1])


@pytest.fixture
def bench_data() -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Five 400-row batches of the badly conditioned benchmark data."""
    return correlated_batches(5, 400)
