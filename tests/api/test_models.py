"""Model read-outs per mode and revision, predictions, per-batch records, curves, memos and training state."""
from __future__ import annotations

import numpy as np
import pytest

from salsaweb.regression.models import BatchRun

from .conftest import batch_data, csv_text, token_client

pytestmark = pytest.mark.django_db


def _lstsq(seeds: list[int]) -> np.ndarray:
    X = np.vstack([batch_data(s)[0] for s in seeds])
    y = np.concatenate([batch_data(s)[1] for s in seeds])
    return np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]


def test_model_has_the_contract_fields_and_the_closed_form_optimum(api, trained) -> None:
    body = api.get(f"/api/datasets/{trained.pk}/model/", {"mode": "incremental"}).json()
    assert (body["mode"], body["revision"], body["data_revision"], body["up_to_date"]) == ("incremental", 2, 2, True)
    assert set(body["weights"]) == {"x0", "x1"} and body["iterations"] == len(body["losses"]) - 1
    assert isinstance(body["converged"], bool) and body["loss"] == body["losses"][-1]
    w0, w1, b = _lstsq([1, 2])
    optimum = body["optimum"]
    assert optimum["weights"]["x0"] == pytest.approx(w0) and optimum["weights"]["x1"] == pytest.approx(w1)
    assert optimum["bias"] == pytest.approx(b) and optimum["loss"] <= body["loss"]
    assert body["weights"]["x0"] == pytest.approx(w0, rel=1e-3) and body["bias"] == pytest.approx(b, rel=1e-3)


def test_model_defaults_to_the_first_mode_and_reads_older_revisions(api, trained) -> None:
    assert api.get(f"/api/datasets/{trained.pk}/model/").json()["mode"] == "incremental"
    first = api.get(f"/api/datasets/{trained.pk}/model/", {"mode": "naive", "revision": 1}).json()
    assert (first["revision"], first["data_revision"], first["up_to_date"]) == (1, 2, False)
    w0, _, _ = _lstsq([1])
    assert first["optimum"]["weights"]["x0"] == pytest.approx(w0)


def test_model_errors(api, dataset, trained) -> None:
    url = f"/api/datasets/{trained.pk}/model/"
    missing = api.get(url, {"revision": 9})
    assert missing.status_code == 404
    assert missing.json() == {
        "code": "no_such_revision", "mode": "incremental", "revision": 9, "latest_revision": 2,
        "latest_model_revision": 2,
        "detail": "revision 9 does not exist: this dataset's latest revision is 2; the latest incremental model is "
                  "at revision 2"}
    assert api.get(url, {"mode": "delta"}).json()["fields"]["mode"] == [
        "this dataset trains incremental, naive, not delta"]
    assert "mode" in api.get(url, {"mode": "fast"}).json()["fields"]
    assert "revision" in api.get(url, {"revision": "x"}).json()["fields"]


def test_model_of_an_empty_dataset_is_not_trained(api, dataset) -> None:
    answer = api.get(f"/api/datasets/{dataset.pk}/model/", {"mode": "naive"})
    assert answer.status_code == 404 and answer.json()["code"] == "not_trained"


def test_predict_one_and_many_rows(api, trained) -> None:
    model = api.get(f"/api/datasets/{trained.pk}/model/", {"mode": "naive"}).json()
    rows = [{"x0": 1.0, "x1": 2.0}, {"x0": -3.0, "x1": 0.5, "ignored": 1}]
    answer = api.post(f"/api/datasets/{trained.pk}/predict/", {"mode": "naive", "rows": rows}, format="json")
    assert answer.status_code == 200
    body = answer.json()
    expected = [model["weights"]["x0"] * r["x0"] + model["weights"]["x1"] * r["x1"] + model["bias"] for r in rows]
    assert (body["mode"], body["revision"]) == ("naive", 2)
    assert body["predictions"] == pytest.approx(expected)
    one = api.post(f"/api/datasets/{trained.pk}/predict/", {"rows": [{"x0": 1, "x1": 1}], "revision": 1},
                   format="json").json()
    assert (one["mode"], one["revision"], len(one["predictions"])) == ("incremental", 1, 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rows": [{"x0": 1.0}]}, "rows"),
        ({"rows": [{"x0": "one", "x1": 1}]}, "rows"),
        ({"rows": [{"x0": "nan", "x1": 1}]}, "rows"),
        ({"rows": []}, "rows"),
        ({}, "rows"),
        ({"rows": [{"x0": 1, "x1": 1}], "mode": "delta"}, "mode"),
    ],
)
def test_predict_errors_name_the_field(api, trained, body, field) -> None:
    answer = api.post(f"/api/datasets/{trained.pk}/predict/", body, format="json")
    assert answer.status_code == 400 and field in answer.json()["fields"]


def test_predict_without_a_model_is_not_trained(api, dataset) -> None:
    answer = api.post(f"/api/datasets/{dataset.pk}/predict/", {"rows": [{"x0": 1, "x1": 1}]}, format="json")
    assert answer.status_code == 404 and answer.json()["code"] == "not_trained"


def test_runs_are_paginated_per_batch_records(api, trained, upload) -> None:
    upload(api, trained, csv_text(*batch_data(3)))
    url = f"/api/datasets/{trained.pk}/runs/"
    page = api.get(url, {"page_size": 4}).json()
    assert page["count"] == 6 and len(page["results"]) == 4 and page["next"]
    first = page["results"][0]
    for field in ("batch", "mode", "rows_total", "wall_ms", "iterations", "executed", "reused", "loss"):
        assert field in first
    assert [(r["batch"], r["mode"]) for r in page["results"]] == [(1, "incremental"), (1, "naive"),
                                                                  (2, "incremental"), (2, "naive")]
    assert first["rows_total"] == 50 and first["executed"] > 0 and first["wall_ms"] > 0
    incremental = api.get(url, {"mode": "incremental", "batch_min": 2}).json()["results"]
    assert [(r["batch"], r["rows_total"]) for r in incremental] == [(2, 100), (3, 150)]
    assert api.get(url, {"batch_max": 1}).json()["count"] == 2
    assert "batch_min" in api.get(url, {"batch_min": "two"}).json()["fields"]
    assert "mode" in api.get(url, {"mode": "exact"}).json()["fields"]


def test_curves_newest_first_with_the_optimum_loss(api, trained) -> None:
    body = api.get(f"/api/datasets/{trained.pk}/curves/", {"mode": "naive"}).json()
    assert [c["batch"] for c in body["results"]] == [2, 1]
    latest = body["results"][0]
    run = BatchRun.objects.get(dataset=trained, mode="naive", batch__number=2)
    assert latest["losses"] == pytest.approx(run.losses)
    assert latest["optimum_loss"] == pytest.approx(run.optimum["loss"])
    assert len(latest["losses"]) == latest["iterations"] + 1


def test_curves_carry_elapsed_time_per_iterate_and_runs_say_which_revisions_they_took_in(api, trained) -> None:
    curve = api.get(f"/api/datasets/{trained.pk}/curves/", {"mode": "naive"}).json()["results"][0]
    elapsed = curve["elapsed_ms"]
    assert len(elapsed) == len(curve["losses"]) and elapsed == sorted(elapsed) and 0 < elapsed[-1] <= curve["wall_ms"]
    runs = api.get(f"/api/datasets/{trained.pk}/runs/", {"mode": "naive"}).json()["results"]
    assert [(r["first_batch"], r["revision"]) for r in runs] == [(1, 1), (2, 2)]


def test_run_records_read_directly_equal_drfs_field_by_field_answer(trained) -> None:
    from rest_framework import serializers

    from salsaweb.api.serializers import RunSerializer
    from salsaweb.regression.selectors import run_records

    runs = list(run_records(dataset=trained))
    runs[0].loss, runs[1].wall_ms = float("nan"), float("inf")  # served as null either way
    serializer = RunSerializer()
    for run in runs:
        assert serializer.to_representation(run) == serializers.ModelSerializer.to_representation(serializer, run)
    assert serializer.to_representation(runs[0])["loss"] is None and serializer.to_representation(runs[1])["wall_ms"] is None


def test_standardized_weights_are_weights_times_feature_sd_over_target_sd(api, trained) -> None:
    body = api.get(f"/api/datasets/{trained.pk}/model/", {"mode": "incremental"}).json()
    X = np.vstack([batch_data(s)[0] for s in (1, 2)])
    y = np.concatenate([batch_data(s)[1] for s in (1, 2)])
    for j, feature in enumerate(("x0", "x1")):
        expected = body["weights"][feature] * X[:, j].std() / y.std()
        assert body["standardized_weights"][feature] == pytest.approx(expected, rel=1e-9)


def test_memos_of_the_dataset_namespace_only(api, trained, user) -> None:
    from salsaweb.regression import services

    other = services.dataset_create(owner=user, name="other", features=["x0", "x1"], target="y")
    page = api.get(f"/api/datasets/{trained.pk}/memos/", {"page_size": 5}).json()
    assert page["count"] > 5 and len(page["results"]) == 5
    memo = page["results"][0]
    assert {"id", "label", "function", "preview", "changed_at", "verified_at", "code_version", "duration"} <= set(memo)
    assert "value" not in memo
    function = memo["function"]
    filtered = api.get(f"/api/datasets/{trained.pk}/memos/", {"function": function}).json()
    assert filtered["count"] >= 1 and {m["function"] for m in filtered["results"]} == {function}
    assert api.get(f"/api/datasets/{other.pk}/memos/").json()["count"] == 0


def test_training_state_per_mode(api, trained, dataset) -> None:
    body = api.get(f"/api/datasets/{trained.pk}/training/").json()
    assert [(m["mode"], m["status"], m["requested"], m["covered"], m["pending"]) for m in body["modes"]] == [
        ("incremental", "done", 2, 2, 0), ("naive", "done", 2, 2, 0)]


def test_read_endpoints_are_read_only(api, trained, other) -> None:
    for name in ("model", "runs", "curves", "memos", "training"):
        answer = api.post(f"/api/datasets/{trained.pk}/{name}/", {}, format="json")
        assert answer.status_code == 405 and answer.json()["code"] == "method_not_allowed"
    assert token_client(other).get(f"/api/datasets/{trained.pk}/model/").status_code == 404
