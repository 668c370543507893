"""Services for changing batches: replace and delete, each one data revision and one engine transaction."""
from __future__ import annotations

import numpy as np
import pytest

from runtime import MissingInputError
from salsaweb.regression import inputs, scheduling, selectors, services
from salsaweb.regression.models import Batch, Dataset, TrainingState
from salsaweb.regression.parsing import CsvError
from salsaweb.regression.runtimes import dataset_runtime

from .conftest import correlated_batches, lstsq
from .test_services import FEATURES, to_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    """Four 100-row batches with three correlated features."""
    batches, _ = correlated_batches(4, 100, features=3, seed=5)
    return batches


@pytest.fixture
def dataset(django_user_model, data) -> Dataset:
    """A dataset (incremental mode only) holding the four batches."""
    owner = django_user_model.objects.create_user(username="owner", password="pw")
    dataset = services.dataset_create(owner=owner, name="houses", features=FEATURES, target="y",
                                      modes=["incremental"])
    for X, y in data:
        services.batch_create(dataset=dataset, content=to_csv(X, y))
    return dataset


def _optimum(dataset: Dataset) -> np.ndarray:
    run = services.model_train(dataset=dataset, mode="incremental")
    return np.array([*run.optimum["weights"], run.optimum["bias"]])


def test_every_change_is_one_revision_and_one_engine_revision(dataset, data) -> None:
    rt = dataset_runtime(dataset)
    assert selectors.dataset_data_version(dataset=dataset) == 4
    engine = rt.revision
    deleted = services.batch_delete(dataset=dataset, number=2)
    assert (deleted.number, deleted.revision, deleted.deleted_at is not None) == (2, 5, True)
    assert rt.revision == engine + 1
    X, y = data[0][0][:10], data[0][1][:10] + 1.0
    replaced, changed = services.batch_replace(dataset=dataset, number=3, content=to_csv(X, y), source="fix.csv")
    assert changed and (replaced.rows, replaced.source, replaced.revision) == (10, "fix.csv", 6)
    assert rt.revision == engine + 2
    assert selectors.dataset_data_version(dataset=dataset) == 6
    with pytest.raises(MissingInputError):
        inputs.batch(rt, 2)
    np.testing.assert_array_equal(inputs.batch(rt, 3)[1], y)
    assert inputs.batch_count(rt) == 4  # the highest number given: 2 reads as deleted, not as absent


def test_numbers_are_identities(dataset, data) -> None:
    services.batch_delete(dataset=dataset, number=4)
    added = services.batch_create(dataset=dataset, content=to_csv(data[3][0][:5], data[3][1][:5]))
    assert added.number == 5  # a deleted number is never given again
    assert [b.number for b in selectors.batch_list(dataset=dataset)] == [1, 2, 3, 5]
    assert selectors.batch_get(dataset=dataset, number=4) is None


def test_optimum_follows_deletes_and_replacements(dataset, data) -> None:
    services.batch_delete(dataset=dataset, number=1)
    fixed = (data[1][0] * 2.0, data[1][1] - 3.0)
    services.batch_replace(dataset=dataset, number=2, content=to_csv(*fixed))
    weights, bias = lstsq([fixed, data[2], data[3]])
    np.testing.assert_allclose(_optimum(dataset), [*weights, bias], rtol=1e-9, atol=1e-9)


def test_refused_changes_store_nothing(dataset) -> None:
    rt = dataset_runtime(dataset)
    engine = rt.revision
    with pytest.raises(CsvError):
        services.batch_replace(dataset=dataset, number=1, content="x0,x1,x2,y\n1,2,x,4\n")
    with pytest.raises(Batch.DoesNotExist):
        services.batch_replace(dataset=dataset, number=9, content="x0,x1,x2,y\n1,2,3,4\n")
    with pytest.raises(Batch.DoesNotExist):
        services.batch_delete(dataset=dataset, number=9)
    services.batch_delete(dataset=dataset, number=1)
    with pytest.raises(Batch.DoesNotExist):
        services.batch_delete(dataset=dataset, number=1)
    assert selectors.dataset_data_version(dataset=dataset) == 5 and rt.revision == engine + 1


def test_scheduling_queues_retraining_for_each_change(dataset, data, monkeypatch) -> None:
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: None)
    _, states = scheduling.batch_withdraw(dataset=dataset, number=1)
    assert [(s.mode, s.status, s.requested) for s in states] == [("incremental", TrainingState.QUEUED, 5)]
    _, states = scheduling.batch_resubmit(dataset=dataset, number=2, content=to_csv(data[0][0], data[0][1] + 1))
    assert [s.requested for s in states] == [6]
    batch, states = scheduling.batch_resubmit(dataset=dataset, number=2, content=to_csv(data[0][0], data[0][1] + 1))
    assert states == [] and batch.revision == 6  # the same rows again: no change, nothing queued
    _, states = scheduling.batch_withdraw(dataset=dataset, number=2, train_now=True)
    assert [(s.status, s.covered) for s in states] == [(TrainingState.DONE, 7)]


@pytest.mark.parametrize("standardize", [True, False])
def test_values_at_the_limit_train_in_every_mode(django_user_model, standardize) -> None:
    owner = django_user_model.objects.create_user(username="big", password="pw")
    dataset = services.dataset_create(owner=owner, name="big", features=FEATURES, target="y",
                                      modes=["incremental", "naive", "delta"], standardize=standardize)
    rng = np.random.default_rng(3)
    X = rng.normal(0.0, 1.0, (200, 3)) * 1e73
    X[0, 0] = 1e75  # the limit itself is accepted
    y = X @ [0.2, -0.1, 0.05] + rng.normal(0.0, 1e72, 200)
    services.batch_create(dataset=dataset, content=to_csv(X, y))
    with np.errstate(all="raise"):
        runs = services.dataset_train(dataset=dataset)
    for run in runs:
        assert run.converged and not run.diverged and np.isfinite(run.loss), run.mode


def _all_modes_dataset(django_user_model, data, **settings) -> Dataset:
    owner = django_user_model.objects.create_user(username="every-mode", password="pw")
    dataset = services.dataset_create(owner=owner, name="every mode", features=FEATURES, target="y",
                                      modes=["incremental", "naive", "delta"], **settings)
    for X, y in data:
        services.batch_create(dataset=dataset, content=to_csv(X, y))
    return dataset


def test_every_mode_trains_after_the_last_batch_is_deleted(django_user_model, data) -> None:
    dataset = _all_modes_dataset(django_user_model, data)
    for mode in ("incremental", "naive", "delta"):
        services.model_train(dataset=dataset, mode=mode)
    services.batch_delete(dataset=dataset, number=4)
    weights, bias = lstsq(data[:3])
    for mode in ("incremental", "naive"):
        run = services.model_train(dataset=dataset, mode=mode)
        np.testing.assert_allclose(run.optimum["weights"], weights, rtol=1e-9)
        np.testing.assert_allclose(run.optimum["bias"], bias, rtol=1e-9)
        assert run.rows_total == 300
    delta = services.model_train(dataset=dataset, mode="delta")
    assert delta.rows_total == 300 and any("start" in warning for warning in delta.warnings)


def test_a_window_and_ridge_changed_by_settings_follow_the_batches_that_remain(django_user_model, data) -> None:
    dataset = _all_modes_dataset(django_user_model, data)
    services.batch_delete(dataset=dataset, number=3)
    services.dataset_update(dataset=dataset, window=2)
    weights, bias = lstsq([data[1], data[3]])  # the two highest-numbered batches that exist: 4 and 2
    run = services.model_train(dataset=dataset, mode="incremental")
    np.testing.assert_allclose(run.optimum["weights"], weights, rtol=1e-9)
    assert run.rows_total == 200
    services.dataset_update(dataset=dataset, window=None, l2=0.5)
    ridge = services.model_train(dataset=dataset, mode="incremental")
    X = np.vstack([data[0][0], data[1][0], data[3][0]])
    y = np.concatenate([data[0][1], data[1][1], data[3][1]])
    centred, n = X - X.mean(axis=0), len(y)
    # (1/n)|Xc w - yc|^2 + l2 |S w|^2, S the features' standard deviations (docs/regression.md)
    expected = np.linalg.solve(centred.T @ centred / n + 0.5 * np.diag(X.var(axis=0)),
                               centred.T @ (y - y.mean()) / n)
    np.testing.assert_allclose(ridge.optimum["weights"], expected, rtol=1e-9)
    np.testing.assert_allclose(ridge.optimum["bias"], y.mean() - X.mean(axis=0) @ expected, rtol=1e-9)
    assert ridge.rows_total == 300
