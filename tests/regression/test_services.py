"""Services and selectors on the database store: datasets, atomic batches, training records, read-outs."""
from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from runtime import MissingInputError
from runtime.db.models import Namespace
from salsaweb.regression import inputs, selectors, services
from salsaweb.regression.descent import RegressionError
from salsaweb.regression.models import Batch, BatchRun, Dataset
from salsaweb.regression.parsing import CsvError
from salsaweb.regression.runtimes import dataset_runtime

from .conftest import correlated_batches, lstsq

pytestmark = pytest.mark.django_db

FEATURES = ["x0", "x1", "x2"]


def to_csv(X: np.ndarray, y: np.ndarray, names: list[str] = FEATURES) -> str:
    """A batch as the CSV text a client uploads."""
    rows = "\n".join(",".join(repr(float(v)) for v in row) for row in np.column_stack([X, y]))
    return ",".join([*names, "y"]) + "\n" + rows + "\n"


@pytest.fixture
def data():
    """Four 200-row batches with three correlated features."""
    batches, _ = correlated_batches(4, 200, features=3, seed=11)
    return batches


@pytest.fixture
def owner(django_user_model):
    """The user who owns the test datasets."""
    return django_user_model.objects.create_user(username="owner", password="pw")


@pytest.fixture
def dataset(owner) -> Dataset:
    return services.dataset_create(owner=owner, name="houses", features=FEATURES, target="y")


def test_new_dataset_defaults(dataset) -> None:
    assert dataset.modes == ["incremental", "naive"]
    assert dataset.learning_rate is None and dataset.max_iterations == 100 and dataset.standardize
    rt = dataset_runtime(dataset)
    assert inputs.batch_count(rt) == 0
    assert inputs.training_settings(rt)["features"] == tuple(FEATURES)
    assert selectors.dataset_data_version(dataset=dataset) == 0
    with pytest.raises(RegressionError, match="no rows yet"):
        services.model_train(dataset=dataset, mode="incremental")
    assert selectors.model_get(dataset=dataset, mode="incremental") is None


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"features": []}, "features"),
        ({"features": ["a", "a"]}, "features"),
        ({"features": ["a,b"]}, "features"),
        ({"features": ["y"]}, "target"),
        ({"target": ""}, "target"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"momentum": 1.0}, "momentum"),
        ({"max_iterations": 0}, "max_iterations"),
        ({"tolerance": -1.0}, "tolerance"),
        ({"modes": []}, "modes"),
        ({"modes": ["exact"]}, "modes"),
        ({"initial_weights": {"weights": {"zz": 1.0}}}, "initial_weights"),
        ({"name": " spaced "}, "name"),
    ],
)
def test_dataset_create_rejects_bad_settings_by_field(owner, fields, bad) -> None:
    arguments = {"owner": owner, "name": "d", "features": ["a", "b"], "target": "y", **fields}
    with pytest.raises(ValidationError) as caught:
        services.dataset_create(**arguments)
    assert bad in caught.value.message_dict
    assert not Dataset.objects.exists()


def test_duplicate_dataset_name_is_rejected_per_owner(dataset, owner, django_user_model) -> None:
    with pytest.raises(ValidationError, match="already have a dataset named 'houses'"):
        services.dataset_create(owner=owner, name="houses", features=["a"], target="y")
    other = django_user_model.objects.create_user(username="other", password="pw")
    assert services.dataset_create(owner=other, name="houses", features=["a"], target="y").owner == other


def test_accepted_batch_is_numbered_and_stored_as_one_input(dataset, data) -> None:
    first = services.batch_create(dataset=dataset, content=to_csv(*data[0]), source="one.csv")
    second = services.batch_create(dataset=dataset, content=to_csv(*data[1]))
    assert (first.number, first.rows, first.source, second.number) == (1, 200, "one.csv", 2)
    rt = dataset_runtime(dataset)
    assert inputs.batch_count(rt) == 2
    X, y = inputs.batch(rt, 1)
    np.testing.assert_array_equal(X, data[0][0])
    np.testing.assert_array_equal(y, data[0][1])


def test_a_batch_is_one_engine_revision(dataset, data) -> None:
    revisions = [dataset_runtime(dataset).revision]
    for X, y in data:
        services.batch_create(dataset=dataset, content=to_csv(X, y))
        revisions.append(dataset_runtime(dataset).revision)
    assert np.diff(revisions).tolist() == [1] * len(data)
    rt = dataset_runtime(dataset)
    rows, count = rt.read_input(inputs.batch.key((4,))), rt.read_input(inputs.batch_count.key(()))
    assert rows.changed_at == count.changed_at == rt.revision


def test_a_new_dataset_is_one_engine_revision(django_user_model) -> None:
    owner = django_user_model.objects.create_user(username="fresh", password="pw")
    dataset = services.dataset_create(owner=owner, name="fresh", features=FEATURES, target="y")
    rt = dataset_runtime(dataset)
    assert rt.revision == 1
    assert rt.read_input(inputs.batch_count.key(())).changed_at == rt.read_input(
        inputs.training_settings.key(())).changed_at == 1


def test_rejected_csv_leaves_no_trace(dataset) -> None:
    with pytest.raises(CsvError, match="bad.csv, row 1 \\(line 2\\), column 'x1'"):
        services.batch_create(dataset=dataset, content="x0,x1,x2,y\n1,oops,3,4\n", source="bad.csv")
    assert not Batch.objects.exists()
    assert inputs.batch_count(dataset_runtime(dataset)) == 0


def test_duplicate_batch_is_rejected(dataset, data) -> None:
    services.batch_create(dataset=dataset, content=to_csv(*data[0]))
    reordered = to_csv(data[0][0][:, ::-1], data[0][1], names=FEATURES[::-1])  # same numbers, other layout
    with pytest.raises(services.DuplicateBatch, match="identical to batch #1"):
        services.batch_create(dataset=dataset, content=reordered, source="again.csv")
    assert Batch.objects.count() == 1


def test_batch_row_and_runtime_input_commit_together(dataset, data, monkeypatch) -> None:
    def fail(*args):
        raise RuntimeError("store write failed")

    monkeypatch.setattr(inputs.batch_count, "set", fail)
    with pytest.raises(RuntimeError, match="store write failed"):
        services.batch_create(dataset=dataset, content=to_csv(*data[0]))
    monkeypatch.undo()
    assert not Batch.objects.exists()
    with pytest.raises(MissingInputError):
        inputs.batch(dataset_runtime(dataset), 1)


def test_training_records_and_read_out(dataset, data) -> None:
    for X, y in data[:3]:
        services.batch_create(dataset=dataset, content=to_csv(X, y))
        runs = services.dataset_train(dataset=dataset)
        assert [run.mode for run in runs] == ["incremental", "naive"]
    exact = selectors.model_get(dataset=dataset, mode="incremental")
    naive = selectors.model_get(dataset=dataset, mode="naive")
    for key in ("mode", "revision", "data_revision", "up_to_date", "weights", "bias", "iterations", "converged",
                "loss", "losses", "optimum"):
        assert key in exact
    assert (exact["revision"], exact["data_revision"], exact["up_to_date"]) == (3, 3, True)
    assert list(exact["weights"]) == FEATURES and set(exact["optimum"]) == {"weights", "bias", "loss"}
    assert exact["converged"] and len(exact["losses"]) == exact["iterations"] + 1
    for feature in FEATURES:
        assert exact["weights"][feature] == pytest.approx(naive["weights"][feature], rel=1e-9)
    weights, bias = lstsq(data[:3])
    np.testing.assert_allclose(list(exact["optimum"]["weights"].values()), weights, rtol=1e-8)
    assert exact["optimum"]["bias"] == pytest.approx(bias, rel=1e-8)
    assert exact["loss"] == pytest.approx(exact["optimum"]["loss"], rel=1e-6)

    runs = selectors.run_list(dataset=dataset)
    assert [(r["batch"], r["mode"]) for r in runs] == [(b, m) for b in (1, 2, 3) for m in ("incremental", "naive")]
    assert set(selectors.RUN_FIELDS) <= set(runs[0])
    assert runs[-1]["rows_total"] == 600 and runs[-1]["rows_batch"] == 200
    assert all(r["executed"] > 0 and r["reused"] > 0 and r["wall_ms"] > 0 for r in runs)

    services.batch_create(dataset=dataset, content=to_csv(*data[3]))
    stale = selectors.model_get(dataset=dataset, mode="incremental")
    assert (stale["revision"], stale["data_revision"], stale["up_to_date"]) == (3, 4, False)
    older = selectors.model_get(dataset=dataset, mode="incremental", data_version=1)
    assert older["revision"] == 1 and older["weights"] != exact["weights"]


def test_prediction_uses_the_read_out(dataset, data) -> None:
    services.batch_create(dataset=dataset, content=to_csv(*data[0]))
    services.model_train(dataset=dataset, mode="incremental")
    model = selectors.model_get(dataset=dataset, mode="incremental")
    rows = [{"x0": 1.0, "x1": 2.0, "x2": -3.0}, {"x0": 0.0, "x1": 0.0, "x2": 0.0}]
    predicted = selectors.model_predict(dataset=dataset, mode="incremental", rows=rows)
    w = model["weights"]
    assert predicted[0] == pytest.approx(w["x0"] + 2 * w["x1"] - 3 * w["x2"] + model["bias"])
    assert predicted[1] == pytest.approx(model["bias"])
    np.testing.assert_allclose(
        selectors.model_predict(dataset=dataset, mode="incremental", rows=np.array([[1.0, 2.0, -3.0]])), predicted[:1]
    )
    with pytest.raises(RegressionError, match="missing feature"):
        selectors.model_predict(dataset=dataset, mode="incremental", rows=[{"x0": 1.0}])
    with pytest.raises(RegressionError, match="no naive model"):
        selectors.model_predict(dataset=dataset, mode="naive", rows=rows)


def test_delta_records_its_gradient_error(owner, data) -> None:
    dataset = services.dataset_create(owner=owner, name="d", features=FEATURES, target="y", modes=["delta"])
    for X, y in data[:2]:
        services.batch_create(dataset=dataset, content=to_csv(X, y))
        services.dataset_train(dataset=dataset)
    first, second = BatchRun.objects.order_by("batch__number")
    assert first.gradient_error < 1e-9 < second.gradient_error
    assert len(second.gradient_errors) == len(second.losses)
    assert selectors.run_list(dataset=dataset)[1]["gradient_error"] == second.gradient_error


def test_divergent_learning_rate_is_recorded_not_raised(owner, data) -> None:
    dataset = services.dataset_create(owner=owner, name="d", features=FEATURES, target="y", learning_rate=50.0)
    services.batch_create(dataset=dataset, content=to_csv(*data[0]))
    run = services.model_train(dataset=dataset, mode="naive")
    assert run.diverged and not run.converged and "diverges" in run.message
    assert all(np.isfinite(run.weights))


def test_settings_update_retrains_and_warm_start_starts_from_the_last_model(dataset, data) -> None:
    services.batch_create(dataset=dataset, content=to_csv(*data[0]))
    cold = services.model_train(dataset=dataset, mode="incremental")
    dataset, changed = services.dataset_update(dataset=dataset, max_iterations=3, tolerance=0.0)
    assert changed and dataset.revision == 2  # a settings change is a new data revision
    short = services.model_train(dataset=dataset, mode="incremental")
    assert (cold.revision, short.revision, short.iterations) == (1, 2, 3)
    assert services.dataset_update(dataset=dataset, max_iterations=3) == (dataset, False)
    with pytest.raises(ValidationError):
        services.dataset_update(dataset=dataset, features=["z"])
    with pytest.raises(ValidationError):
        services.dataset_update(dataset=dataset, momentum=2.0)
    assert selectors.dataset_data_version(dataset=dataset) == 2

    dataset, _ = services.dataset_update(dataset=dataset, warm_start=True, max_iterations=100, tolerance=1e-6)
    services.model_train(dataset=dataset, mode="incremental")
    services.batch_create(dataset=dataset, content=to_csv(*data[1]))
    warm = services.model_train(dataset=dataset, mode="incremental")
    previous = selectors.model_get(dataset=dataset, mode="incremental", data_version=3)
    assert warm.losses[0] < cold.losses[0] / 10  # started near the previous optimum, not at zero
    rt = dataset_runtime(dataset)
    assert inputs.initial_model(rt, "incremental") == (tuple(previous["weights"].values()), previous["bias"])


def test_delete_retires_the_namespace(dataset, data) -> None:
    services.batch_create(dataset=dataset, content=to_csv(*data[0]))
    namespace = dataset.namespace
    services.dataset_delete(dataset=dataset)
    assert not Dataset.objects.exists() and not Batch.objects.exists()
    assert Namespace.objects.get(name=namespace).deleted_at is not None


def test_demo_command_reproduces_the_seed_demonstration(capsys) -> None:
    call_command("regression_demo", batches=3, rows=20, stdout=None)
    out = capsys.readouterr().out
    for mode in ("incremental", "naive", "delta"):
        assert f"{mode:<12} predict(10) = " in out
    assert "optimum      predict(10) = " in out
    assert Dataset.objects.get(name="regression-demo").batches.count() == 3
    assert BatchRun.objects.count() == 9


def test_window_and_l2_are_validated_and_reach_the_runtime_settings(owner) -> None:
    dataset = services.dataset_create(owner=owner, name="w", features=FEATURES, target="y", window=4, l2=0.25)
    settings = inputs.training_settings(dataset_runtime(dataset))
    assert (settings["window"], settings["l2"]) == (4, 0.25)
    for bad in ({"window": 0}, {"window": True}, {"window": 2.5}, {"l2": -0.1}, {"l2": float("nan")}):
        with pytest.raises(ValidationError) as error:
            services.dataset_update(dataset=dataset, **bad)
        assert set(error.value.message_dict) == set(bad)
    dataset, changed = services.dataset_update(dataset=dataset, window=None, l2=0.0)
    assert changed and dataset.revision == 1
    assert services.dataset_settings(dataset)["window"] is None
    assert inputs.training_settings(dataset_runtime(dataset))["l2"] == 0.0
