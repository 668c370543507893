"""Any history of appends, deletes, replacements, window and l2 changes: the models are those of the rows that remain.

The property test runs on the database store (the test database: SQLite or PostgreSQL,
whichever DATABASE_URL names), with a new runtime for every step as the services make
them; the convergence tests use scikit-learn's diabetes data in five batches.
"""
from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_diabetes

from runtime import Runtime
from runtime.db.storage import DatabaseStorage
from salsaweb.regression import inputs
from salsaweb.regression.training import incremental_problem, naive_problem, train

from .conftest import load_runtime, make_settings

Rows = tuple[np.ndarray, np.ndarray]
FEATURES = 3


def reference(used: list[Rows], l2: float) -> np.ndarray:
    """``(weights, bias)`` by numpy on the rows: lstsq, or the ridge closed form (penalty on standardized weights)."""
    X = np.vstack([X for X, _ in used])
    y = np.concatenate([y for _, y in used])
    if l2 == 0.0:
        return np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    mean_x, mean_y = X.mean(axis=0), y.mean()
    Xc, yc = X - mean_x, y - mean_y
    spread = Xc.std(axis=0)
    weights = np.linalg.solve(Xc.T @ Xc / len(y) + l2 * np.diag(spread**2), Xc.T @ yc / len(y))
    return np.r_[weights, mean_y - mean_x @ weights]


def in_use(batches: dict[int, Rows], window: int | None) -> list[Rows]:
    """The batches a model uses: all that exist, or the ``window`` highest-numbered of them."""
    numbers = sorted(batches)
    if window is not None:
        numbers = numbers[-window:]
    return [batches[n] for n in numbers]


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["append", "delete", "replace", "window", "l2"]), st.integers(1, 8),
              st.integers(0, 25)),
    min_size=1,
    max_size=10,
)


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS, seed=st.integers(0, 2**32 - 1))
def test_random_history_optimum_equals_numpy_on_the_remaining_rows(operations, seed) -> None:
    rng = np.random.default_rng(seed)
    namespace = f"history-{uuid.uuid4().hex}"

    def rows(count: int) -> Rows:
        X = rng.standard_normal((count, FEATURES)) * [1.0, 5.0, 0.2] + 3.0
        return X, X @ [1.0, -2.0, 0.5] + 0.7 + rng.standard_normal(count)

    def fresh() -> Runtime:
        return Runtime(storage=DatabaseStorage(namespace))

    batches = {1: rows(12), 2: rows(15)}
    load_runtime([batches[1], batches[2]], fresh())
    window: int | None = None
    l2 = 0.0
    for kind, number, size in operations:
        rt = fresh()
        count = inputs.batch_count(rt)
        if kind == "append":
            batches[count + 1] = rows(size)
            with rt.transaction():
                inputs.batch_put(rt, count + 1, batches[count + 1])
                inputs.batch_count.set(rt, count + 1)
        elif kind == "delete" and number in batches:
            del batches[number]
            inputs.batch_remove(rt, number)
        elif kind == "replace" and number <= count:
            batches[number] = rows(size)
            inputs.batch_put(rt, number, batches[number])
        elif kind == "window":
            window = None if number > 5 else number
        elif kind == "l2":
            l2 = (0.0, 0.01, 1.0)[number % 3]
        inputs.training_settings.set(rt, make_settings(FEATURES, window=window, l2=l2))

        rt = fresh()
        used = in_use(batches, window)
        if sum(len(y) for _, y in used) <= FEATURES + 1:
            continue  # no unique least-squares answer to compare with
        want = reference(used, l2)
        for problem in (incremental_problem(rt), naive_problem(rt)):
            best = problem["optimum"]
            assert relative(np.r_[best["weights"], best["bias"]], want) < 1e-9
        for mode in ("incremental", "naive"):
            result = train(fresh(), mode)
            assert result["converged"], result["warnings"]
            assert relative(np.r_[result["weights"], result["bias"]], want) < 1e-5
        train(fresh(), "delta")  # follows (by starting over) whatever happened; it must not fail


def diabetes_batches() -> list[Rows]:
    data = load_diabetes()
    return [(data.data[i], data.target[i]) for i in np.array_split(np.arange(len(data.target)), 5)]


@pytest.mark.parametrize("mode", ["incremental", "naive"])
@pytest.mark.parametrize("warm", [False, True])
def test_default_settings_converge_monotonically_on_diabetes_in_every_batch(mode: str, warm: bool) -> None:
    parts = diabetes_batches()
    rt = load_runtime([], features_count=10)
    for k, (X, y) in enumerate(parts, start=1):
        inputs.batch_put(rt, k, (X, y))
        inputs.batch_count.set(rt, k)
        result = train(rt, mode)
        assert result["converged"] and result["warnings"] == [] and result["message"] == ""
        assert result["iterations"] <= 100  # the default limit (conjugate gradients: p + 1 = 11 steps and a check)
        assert relative(np.r_[result["weights"], result["bias"]], reference(parts[:k], 0.0)) < 1e-6
        losses = result["losses"]
        assert all(after <= before for before, after in zip(losses, losses[1:]))
        if warm:
            inputs.initial_model.set(rt, mode, (tuple(result["weights"]), result["bias"]))


def test_ridge_and_window_on_diabetes_match_the_closed_form() -> None:
    parts = diabetes_batches()
    rt = load_runtime(parts, window=3, l2=0.05)
    result = train(rt, "incremental")
    want = reference(parts[2:], 0.05)
    assert result["converged"]
    assert relative(np.r_[result["weights"], result["bias"]], want) < 1e-6
    best = result["optimum"]
    assert relative(np.r_[best["weights"], best["bias"]], want) < 1e-9


def test_a_model_that_does_not_converge_says_why_and_what_to_change() -> None:
    parts = diabetes_batches()
    rt = load_runtime(parts, momentum=0.0, max_iterations=20)
    result = train(rt, "incremental")
    assert not result["converged"] and not result["diverged"]
    (warning,) = result["warnings"]
    assert warning.startswith("not converged: stopped at the iteration limit (20)")
    assert "learning_rate and momentum to auto" in warning and result["message"] == warning
    delta = train(load_runtime(parts, max_iterations=20), "delta")
    assert "use the incremental mode" in delta["warnings"][-1]


def test_delta_starts_over_after_a_deletion_and_says_so() -> None:
    parts = diabetes_batches()
    rt = load_runtime(parts[:3])
    first = train(rt, "delta")
    assert not any("started over" in w for w in first["warnings"])
    inputs.batch_remove(rt, 2)
    after = train(rt, "delta")
    assert any("started over from the current rows" in w for w in after["warnings"])
    assert after["rows"] == len(parts[0][1]) + len(parts[2][1])
    assert max(after["gradient_errors"]) < 1e-9  # started over: every residual sum is current
    naive = train(rt, "naive")  # the deleted batch is skipped, not an error
    assert naive["rows"] == after["rows"]


def test_appending_to_a_windowed_dataset_reads_only_the_new_batch() -> None:
    parts = diabetes_batches()
    rt = load_runtime(parts[:4], window=2)
    train(rt, "incremental")
    read: list[Any] = []
    get_input = rt.storage.get_input

    def spy(key: Any) -> Any:
        if key[0] == inputs.batch.id:
            read.append(key[1][0])
        return get_input(key)

    rt.storage.get_input = spy  # type: ignore[method-assign]
    inputs.batch_put(rt, 5, parts[4])
    inputs.batch_count.set(rt, 5)
    result = train(rt, "incremental")
    assert set(read) == {5} and result["rows"] == len(parts[3][1]) + len(parts[4][1])
