"""The pure math: statistics merge exactly, gradients from statistics equal those over rows, optimum = lstsq."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salsaweb.regression.descent import (
    RegressionError,
    exact_gradient,
    from_original,
    gradient_from_sums,
    problem_from_moments,
    rows_gradient_sums,
    to_original,
)
from salsaweb.regression.moments import moments_empty, moments_merge, moments_of

from .conftest import lstsq, make_settings


def random_rows(rng: np.random.Generator, rows: int, features: int, scale_exp: float, mean: float):
    """Rows whose features have spreads 10**(+-scale_exp) and a common mean offset."""
    spread = 10.0 ** rng.uniform(-scale_exp, scale_exp, features)
    X = rng.standard_normal((rows, features)) * spread + mean
    y = X @ (rng.standard_normal(features) / spread) + rng.standard_normal(rows)
    return X, y


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 50), min_size=1, max_size=8),
    features=st.integers(1, 6),
    scale_exp=st.floats(0, 4),
    mean=st.sampled_from([0.0, 2.0, -1e3, 1e5]),
    seed=st.integers(0, 2**32 - 1),
)
def test_merged_statistics_equal_statistics_of_all_rows(sizes, features, scale_exp, mean, seed) -> None:
    rng = np.random.default_rng(seed)
    parts = [random_rows(rng, n, features, scale_exp, mean) for n in sizes]
    merged = moments_empty(features)
    for X, y in parts:
        merged = moments_merge(merged, moments_of(X, y))
    whole = moments_of(np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    assert merged["n"] == whole["n"] == sum(sizes)
    spread = np.sqrt(np.diag(whole["m2"]))
    scale = np.outer(spread, spread) + 1e-300
    np.testing.assert_allclose(merged["mean"], whole["mean"], rtol=1e-9, atol=1e-12 * (abs(mean) + 1))
    # Centring a column with mean mu rounds each value by about eps*|mu|, so an entry of the
    # scatter can be off by eps*sqrt(n)*(|mu_i|*spread_j + |mu_j|*spread_i) in either way of
    # computing it: a large mean over a tiny spread leaves only that many digits to compare.
    mu = np.abs(whole["mean"])
    cancellation = 8 * np.finfo(float).eps * np.sqrt(whole["n"]) * (np.outer(mu, spread) + np.outer(spread, mu))
    assert np.all(np.abs(merged["m2"] - whole["m2"]) <= 1e-9 * scale + cancellation)


@pytest.mark.parametrize("standardize", [True, False])
@settings(max_examples=25, deadline=None)
@given(features=st.integers(1, 6), scale_exp=st.floats(0, 3), l2=st.sampled_from([0.0, 0.3]),
       seed=st.integers(0, 2**32 - 1))
def test_gradient_from_statistics_equals_gradient_over_rows(standardize, features, scale_exp, l2, seed) -> None:
    rng = np.random.default_rng(seed)
    X, y = random_rows(rng, 200, features, scale_exp, 2.0)
    problem = problem_from_moments(moments_of(X, y), make_settings(features, standardize=standardize, l2=l2))
    theta = rng.standard_normal(features + 1)
    exact, loss = exact_gradient(problem, theta)
    rows, rows_loss = gradient_from_sums(problem, theta, rows_gradient_sums(problem, theta, X, y))
    np.testing.assert_allclose(exact, rows, rtol=1e-8, atol=1e-9 * np.abs(rows).max())
    assert loss == pytest.approx(rows_loss, rel=1e-8)
    weights, bias = to_original(problem, theta)
    penalty = l2 * np.sum((X.std(axis=0) * weights) ** 2)  # the ridge penalty is on standardized weights
    assert loss == pytest.approx(np.mean((X @ weights + bias - y) ** 2) + penalty, rel=1e-8)
    np.testing.assert_allclose(from_original(problem, weights, bias), theta, rtol=1e-10, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(20, 300),
    features=st.integers(1, 8),
    scale_exp=st.floats(0, 4),
    mean=st.sampled_from([0.0, 2.0, 1e4]),
    seed=st.integers(0, 2**32 - 1),
)
def test_optimum_equals_numpy_lstsq(rows, features, scale_exp, mean, seed) -> None:
    rng = np.random.default_rng(seed)
    X, y = random_rows(rng, rows, features, scale_exp, mean)
    best = problem_from_moments(moments_of(X, y), make_settings(features))["optimum"]
    weights, bias = lstsq([(X, y)])
    # Compare in standardized units, where every weight has the size of its effect.
    spread = X.std(axis=0)
    np.testing.assert_allclose(best["weights"] * spread, weights * spread, rtol=1e-6, atol=1e-7 * np.abs(y).max())
    centre = X.mean(axis=0)
    assert best["bias"] + centre @ best["weights"] == pytest.approx(bias + centre @ weights, rel=1e-6, abs=1e-7)
    assert best["loss"] == pytest.approx(np.mean((X @ weights + bias - y) ** 2), rel=1e-6, abs=1e-12)


def test_no_rows_is_a_clear_error() -> None:
    with pytest.raises(RegressionError, match="no rows yet"):
        problem_from_moments(moments_empty(3), make_settings(3))


def test_overflowing_data_is_a_clear_error() -> None:
    X = np.array([[1e200], [-1e200], [3.0]])
    with pytest.raises(RegressionError, match="overflow"):
        problem_from_moments(moments_of(X, np.ones(3)), make_settings(1))


def test_auto_step_is_inside_the_stable_range_and_fixed_steps_are_checked() -> None:
    rng = np.random.default_rng(1)
    X, y = random_rows(rng, 100, 3, 2, 5.0)
    for standardize in (True, False):
        for momentum in ("auto", 0.0, 0.5):
            settings = make_settings(3, standardize=standardize, momentum=momentum)
            problem = problem_from_moments(moments_of(X, y), settings)
            assert problem["diverges"] is None
            assert 0 < problem["learning_rate"] < problem["stable_limit"]
    problem = problem_from_moments(moments_of(X, y), make_settings(3, learning_rate=1e9))
    assert problem["momentum"] == 0.0
    assert "diverges" in problem["diverges"] and "'auto'" in problem["diverges"]
