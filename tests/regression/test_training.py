"""The three modes on the runtime: exact equals naive at every iteration, costs, delta's error, degenerate data."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import Runtime
from salsaweb.regression import inputs
from salsaweb.regression.descent import RegressionError
from salsaweb.regression.statistics import FANOUT, node, statistics
from salsaweb.regression.training import FUNCTIONS, incremental_problem, naive_problem, train

from .conftest import correlated_batches, load_runtime, lstsq


def iterates(rt: Runtime, mode: str, count: int) -> np.ndarray:
    """The parameters of iterations 0..count of ``mode``, one row each."""
    step = FUNCTIONS[mode][1]
    return np.array([step(rt, i)["theta"] for i in range(count + 1)])


def add_batch(rt: Runtime, X: np.ndarray, y: np.ndarray) -> None:
    """Append a batch the way the service does."""
    number = inputs.batch_count(rt) + 1
    inputs.batch_put(rt, number, (X, y))
    inputs.batch_count.set(rt, number)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    features=st.integers(1, 5),
    scale_exp=st.floats(0, 3),
    mean=st.sampled_from([0.0, 2.0, 1e3]),
    standardize=st.booleans(),
    momentum=st.sampled_from(["auto", 0.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_incremental_equals_naive_at_every_iteration(sizes, features, scale_exp, mean, standardize, momentum, seed):
    """Fixed steps: the same iterates up to rounding.  Conjugate gradients (auto): the same first step, and, in
    standardized coordinates (the preconditioning CG relies on), the same converged model; raw coordinates
    spanning six orders of magnitude leave CG at the mercy of rounding, where only the first step compares."""
    rng = np.random.default_rng(seed)
    spread = 10.0 ** rng.uniform(-scale_exp, scale_exp, features)
    truth = rng.standard_normal(features) / spread
    rt = load_runtime([], features_count=features, standardize=standardize, momentum=momentum, max_iterations=30)
    seen = []
    for rows in sizes:
        X = rng.standard_normal((rows, features)) * spread + mean
        y = X @ truth + rng.standard_normal(rows)
        seen.append((X, y))
        add_batch(rt, X, y)
        exact, naive = train(rt, "incremental"), train(rt, "naive")
        if momentum == 0.0:
            assert exact["iterations"] == naive["iterations"]
            assert exact["converged"] == naive["converged"]
            a, b = iterates(rt, "incremental", exact["iterations"]), iterates(rt, "naive", naive["iterations"])
            assert np.all(np.abs(a - b) <= 1e-7 * (1.0 + np.abs(b).max(axis=1, keepdims=True)))
            np.testing.assert_allclose(exact["losses"], naive["losses"], rtol=1e-6, atol=1e-9 * naive["losses"][0])
            continue
        a, b = iterates(rt, "incremental", 1), iterates(rt, "naive", 1)
        assert np.all(np.abs(a - b) <= 1e-7 * (1.0 + np.abs(b).max(axis=1, keepdims=True)))
        if not standardize:
            continue
        assert exact["converged"] and naive["converged"]
        X_all = np.vstack([s[0] for s in seen])
        scale = 1.0 + np.abs(X_all @ naive["weights"] + naive["bias"]).max()
        np.testing.assert_allclose(X_all @ exact["weights"] + exact["bias"], X_all @ naive["weights"] + naive["bias"],
                                   atol=1e-5 * scale)
    weights, bias = lstsq(seen)
    X_all = np.vstack([s[0] for s in seen])
    for best in (incremental_problem(rt)["optimum"], naive_problem(rt)["optimum"]):
        np.testing.assert_allclose(X_all @ best["weights"] + best["bias"], X_all @ weights + bias, rtol=1e-6, atol=1e-6)


def test_default_settings_converge_on_badly_conditioned_data(bench_data) -> None:
    batches, _ = bench_data
    rt = load_runtime(batches)
    result = train(rt, "incremental")
    weights, bias = lstsq(batches)
    assert result["converged"] and result["iterations"] <= 100
    reference = np.linalg.norm(np.r_[weights, bias])
    distance = np.linalg.norm(np.r_[result["weights"] - weights, result["bias"] - bias]) / reference
    assert distance < 1e-4
    # Plain gradient descent with a fixed step on the raw weights stalls far from it.
    raw = train(load_runtime(batches, standardize=False, momentum=0.0), "incremental")
    raw_distance = np.linalg.norm(np.r_[raw["weights"] - weights, raw["bias"] - bias]) / reference
    assert not raw["converged"] and raw_distance > 0.05


def test_a_new_batch_costs_the_same_whatever_the_total(bench_data) -> None:
    batches, _ = bench_data
    rt = load_runtime(batches[:1], tolerance=0.0, max_iterations=20, momentum=0.0)
    train(rt, "incremental")
    executions = []
    for X, y in batches[1:]:
        add_batch(rt, X, y)
        before = rt.counters.executions
        train(rt, "incremental")
        executions.append(rt.counters.executions - before)
    # node(0, 0), statistics, problem, then one step per iteration, 0..20.
    assert executions == [3 + 21] * len(executions)
    # Maintained: no derived dependencies, and the statistics of every batch number of its block (set or not) are an
    # input dependency; the rows are not.
    memo = rt.storage.get_memo((node.id, (0, 0)))
    assert not memo.deps
    read = {key[0] for key, _ in memo.inputs.entries()}
    assert inputs.batch.id not in read
    moments_keys = {key for key, _ in memo.inputs.entries() if key[0] == inputs.batch_moments.id}
    assert moments_keys == {(inputs.batch_moments.id, (number,)) for number in range(1, FANOUT + 1)}


def test_statistics_maintained_path_equals_a_fresh_computation(bench_data) -> None:
    batches, _ = bench_data
    rt = load_runtime(batches[:2])
    statistics(rt)
    for X, y in batches[2:]:
        add_batch(rt, X, y)
        statistics(rt)
    fresh = statistics(load_runtime(batches))
    assert fresh["n"] == statistics(rt)["n"] == 2000
    np.testing.assert_allclose(statistics(rt)["m2"], fresh["m2"], rtol=1e-12)


def test_delta_is_exact_on_first_sight_and_reports_its_error_afterwards(bench_data) -> None:
    batches, _ = bench_data
    rt = load_runtime(batches[:1], max_iterations=30, momentum=0.0)  # delta descends without momentum
    first = train(rt, "delta")
    exact = train(rt, "incremental")
    assert max(first["gradient_errors"]) < 1e-9
    np.testing.assert_allclose(iterates(rt, "delta", 30), iterates(rt, "incremental", 30), rtol=1e-9)
    add_batch(rt, *batches[1])
    second = train(rt, "delta")
    assert len(second["gradient_errors"]) == len(second["losses"])
    assert max(second["gradient_errors"]) > 1e-3  # stale residuals: an approximation, and it says so
    assert train(rt, "incremental")["gradient_errors"] is None


def test_progress_reports_every_iteration(bench_data) -> None:
    batches, _ = bench_data
    rt = load_runtime(batches[:1])
    seen: list[tuple[int, float]] = []
    result = train(rt, "naive", progress=lambda i, loss: seen.append((i, loss)))
    assert [i for i, _ in seen] == list(range(result["iterations"] + 1))
    assert [loss for _, loss in seen] == result["losses"]


def test_no_rows_yet_is_a_clear_error() -> None:
    rt = load_runtime([], features_count=2)
    with pytest.raises(RegressionError, match="no rows yet"):
        train(rt, "incremental")


@pytest.mark.parametrize("mode", ["incremental", "naive", "delta"])
def test_constant_feature_is_reported_and_its_weight_kept(mode) -> None:
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.standard_normal(300), np.full(300, 7.0)])
    y = 2 * X[:, 0] + 1 + 0.1 * rng.standard_normal(300)
    result = train(load_runtime([(X, y)]), mode)
    assert any("'x1' is constant" in w for w in result["warnings"])
    assert np.isfinite(result["weights"]).all() and abs(result["weights"][1]) < 1e-12
    assert result["weights"][0] == pytest.approx(2, abs=0.05) and result["bias"] == pytest.approx(1, abs=0.05)


@pytest.mark.parametrize("standardize", [True, False])
def test_collinear_features_are_reported_and_fit_as_well_as_lstsq(standardize) -> None:
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(400), rng.standard_normal(400)
    X = np.column_stack([a, b, a + b, rng.standard_normal(400)])
    y = a - 2 * b + 0.5 * X[:, 3] + 0.1 * rng.standard_normal(400)
    rt = load_runtime([(X, y)], standardize=standardize, max_iterations=300)
    result = train(rt, "incremental")
    assert any("collinear" in w and "'x0'" in w and "'x1'" in w and "'x2'" in w for w in result["warnings"])
    assert np.isfinite(result["weights"]).all()
    weights, bias = lstsq([(X, y)])
    best_loss = np.mean((X @ weights + bias - y) ** 2)
    assert result["loss"] == pytest.approx(best_loss, rel=1e-3)
    assert result["optimum"]["loss"] == pytest.approx(best_loss, rel=1e-9)


def test_divergent_fixed_learning_rate_is_detected_and_reported(bench_data) -> None:
    batches, _ = bench_data
    result = train(load_runtime(batches, learning_rate=5.0), "naive")
    assert result["diverged"] and not result["converged"]
    assert "learning rate 5 diverges" in result["message"]
    assert result["iterations"] == 0 and np.isfinite(result["weights"]).all()
    assert len(result["losses"]) == 1 and np.isfinite(result["loss"])


def test_overflowing_initial_weights_stop_with_a_message() -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((50, 1))
    rt = load_runtime([(X, X[:, 0])])
    inputs.initial_model.set(rt, "incremental", ((1e300,), 0.0))
    result = train(rt, "incremental")
    assert result["diverged"] and "overflowed" in result["message"]
    assert result["iterations"] == 0 and np.isfinite(result["weights"]).all()


@pytest.mark.parametrize("scale", [1e-9, 1e9])
def test_huge_and_tiny_scales_train_like_unit_scales(scale) -> None:
    batches, _ = correlated_batches(3, 300, features=4, seed=6)
    scaled = [(X * scale, y * scale) for X, y in batches]
    unit = train(load_runtime(batches), "incremental")
    rt = load_runtime(scaled)
    big = train(rt, "incremental")
    naive = train(rt, "naive")
    assert big["iterations"] == unit["iterations"] and big["converged"]
    np.testing.assert_allclose(big["weights"], unit["weights"], rtol=1e-9)
    assert big["bias"] == pytest.approx(unit["bias"] * scale, rel=1e-9)
    np.testing.assert_allclose(naive["weights"], big["weights"], rtol=1e-9)
    assert big["loss"] == pytest.approx(unit["loss"] * scale**2, rel=1e-9)


def test_large_feature_means_keep_their_precision() -> None:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((500, 2)) + 1e7
    y = (X - 1e7) @ np.array([1.5, -0.5]) + 3 + 0.01 * rng.standard_normal(500)
    rt = load_runtime([(X[:250], y[:250]), (X[250:], y[250:])])
    result = train(rt, "incremental")
    np.testing.assert_allclose(result["weights"], [1.5, -0.5], atol=2e-3)
    # lstsq on the raw rows loses the digits below 1e7 (try it); on exactly shifted rows it does not.
    np.testing.assert_allclose(result["optimum"]["weights"], lstsq([(X - 1e7, y)])[0], rtol=1e-6)


def test_warm_start_from_the_last_model_needs_fewer_iterations(bench_data) -> None:
    batches, _ = bench_data
    cold = load_runtime(batches[:4])
    train(cold, "incremental")
    warm = load_runtime(batches[:4])
    previous = train(warm, "incremental")
    add_batch(cold, *batches[4])
    add_batch(warm, *batches[4])
    inputs.initial_model.set(warm, "incremental", (tuple(previous["weights"]), previous["bias"]))
    assert train(warm, "incremental")["iterations"] < train(cold, "incremental")["iterations"]
