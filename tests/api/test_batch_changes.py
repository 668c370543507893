"""One batch by number: describe, replace and delete it; every change is one new data revision."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.response import Response
from rest_framework.test import APIClient

from runtime.db.models import InputValue
from salsaweb.regression.models import Batch, BatchRun, Dataset

from .conftest import batch_data, csv_text, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def change(django_capture_on_commit_callbacks: Any) -> Callable[..., Response]:
    """PUT (a CSV file, or JSON rows) or DELETE one batch; the training queued on commit runs before it returns."""

    def send(client: APIClient, dataset: Dataset, method: str, number: int, text: str | None = None,
             name: str = "new.csv", rows: list[dict[str, Any]] | None = None) -> Response:
        url = f"/api/datasets/{dataset.pk}/batches/{number}/"
        with django_capture_on_commit_callbacks(execute=True):
            if method == "delete":
                return client.delete(url)
            if rows is not None:
                return client.put(url, {"rows": rows}, format="json")
            return client.put(url, {"file": SimpleUploadedFile(name, text.encode(), content_type="text/csv")},
                              format="multipart")

    return send


def _revision(api: APIClient, dataset: Dataset) -> int:
    return api.get(f"/api/datasets/{dataset.pk}/").json()["revision"]


def _incremental_optimum(dataset: Dataset) -> tuple[int, np.ndarray]:
    """The newest incremental record's revision and its closed-form optimum (weights, then bias)."""
    run = BatchRun.objects.filter(dataset=dataset, mode="incremental").order_by("-revision").first()
    return run.revision, np.array([*run.optimum["weights"], run.optimum["bias"]])


def _lstsq(parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    X = np.vstack([X for X, _ in parts])
    y = np.concatenate([y for _, y in parts])
    return np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]


def test_get_describes_a_batch(api, trained) -> None:
    answer = api.get(f"/api/datasets/{trained.pk}/batches/2/")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["number"], body["rows"], body["source"], body["revision"], body["replaced_at"]) == (
        2, 50, "b2.csv", 2, None)
    assert len(body["content_hash"]) == 64 and body["created_at"]
    missing = api.get(f"/api/datasets/{trained.pk}/batches/9/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    huge = 10**17  # beyond the number column's range: still a plain 404
    assert api.get(f"/api/datasets/{trained.pk}/batches/{huge}/").status_code == 404


def test_delete_takes_the_rows_out_of_the_model_as_one_new_revision(api, trained, change) -> None:
    answer = change(api, trained, "delete", 1)
    assert answer.status_code == 204
    assert _revision(api, trained) == 3
    listed = api.get(f"/api/datasets/{trained.pk}/batches/").json()
    assert [b["number"] for b in listed["results"]] == [2]
    assert api.get(f"/api/datasets/{trained.pk}/").json()["batches"] == 1
    assert api.get(f"/api/datasets/{trained.pk}/batches/1/").status_code == 404
    revision, optimum = _incremental_optimum(trained)
    assert revision == 3
    np.testing.assert_allclose(optimum, _lstsq([batch_data(2)]), rtol=1e-9, atol=1e-9)
    model = api.get(f"/api/datasets/{trained.pk}/model/", {"mode": "incremental"}).json()
    assert (model["revision"], model["data_revision"], model["up_to_date"], model["rows"], model["batch"]) == (
        3, 3, True, 50, 2)
    older = api.get(f"/api/datasets/{trained.pk}/model/", {"mode": "incremental", "revision": 2}).json()
    assert (older["revision"], older["rows"], older["up_to_date"]) == (2, 100, False)
    runs = api.get(f"/api/datasets/{trained.pk}/runs/", {"mode": "incremental"}).json()["results"]
    assert [(r["revision"], r["batch"], r["rows_total"]) for r in runs] == [(1, 1, 50), (2, 2, 100), (3, 2, 50)]
    curves = api.get(f"/api/datasets/{trained.pk}/curves/", {"mode": "incremental"}).json()["results"]
    assert [c["revision"] for c in curves] == [3, 2, 1]


def test_deleted_numbers_are_never_given_again_and_the_content_may_return(api, trained, change, upload) -> None:
    assert change(api, trained, "delete", 2).status_code == 204
    again = change(api, trained, "delete", 2)
    assert again.status_code == 404 and again.json()["code"] == "not_found"
    assert "batch #2" in again.json()["detail"]
    assert change(api, trained, "delete", 7).status_code == 404
    assert change(api, trained, "delete", 10**17).status_code == 404
    assert _revision(api, trained) == 3  # the refused deletes changed nothing
    back = upload(api, trained, csv_text(*batch_data(2)), "b2-again.csv")  # deleted content is not a duplicate
    assert back.status_code == 202 and (back.json()["number"], back.json()["revision"]) == (3, 4)
    assert Batch.objects.filter(dataset=trained).count() == 3  # the deleted row is kept, marked
    assert Batch.objects.get(dataset=trained, number=2).deleted_at is not None


def test_replace_with_a_file_keeps_the_number_and_retrains(api, trained, change) -> None:
    X, y = batch_data(7, rows=30)
    answer = change(api, trained, "put", 1, csv_text(X, y), "fixed.csv")
    assert answer.status_code == 202
    body = answer.json()
    assert (body["number"], body["rows"], body["source"], body["revision"], body["training"]) == (
        1, 30, "fixed.csv", 3, "queued")
    assert body["replaced_at"] is not None
    assert [b["number"] for b in api.get(f"/api/datasets/{trained.pk}/batches/").json()["results"]] == [1, 2]
    revision, optimum = _incremental_optimum(trained)
    assert revision == 3
    np.testing.assert_allclose(optimum, _lstsq([(X, y), batch_data(2)]), rtol=1e-9, atol=1e-9)


def test_replace_with_json_rows_and_the_same_rows_change_nothing(api, trained, change) -> None:
    X, y = batch_data(8, rows=5)
    rows = [{"x0": a, "x1": b, "y": t} for (a, b), t in zip(X.tolist(), y.tolist())]
    answer = change(api, trained, "put", 2, rows=rows)
    assert answer.status_code == 202 and (answer.json()["source"], answer.json()["revision"]) == ("rows.json", 3)
    same = change(api, trained, "put", 2, rows=rows)
    assert same.status_code == 200 and same.json()["revision"] == 3 and same.json()["training"] == "done"
    assert _revision(api, trained) == 3


def test_rejected_replacement_changes_nothing(api, trained, change) -> None:
    before = api.get(f"/api/datasets/{trained.pk}/batches/2/").json()
    inputs_before = list(InputValue.objects.filter(namespace__name=trained.namespace).values_list("id", flat=True))
    answer = change(api, trained, "put", 2, "x0,x1,y\n1,2,3\n4,abc,6\n", "broken.csv")
    assert answer.status_code == 400
    body = answer.json()
    assert (body["code"], body["file"], body["row"], body["column"]) == ("invalid_csv", "broken.csv", 2, "x1")
    assert api.get(f"/api/datasets/{trained.pk}/batches/2/").json() == before
    assert _revision(api, trained) == 2
    assert list(InputValue.objects.filter(namespace__name=trained.namespace).values_list("id", flat=True)) == (
        inputs_before)
    bad_rows = change(api, trained, "put", 2, rows=[{"x0": 1, "y": 2}])
    assert bad_rows.status_code == 400 and (bad_rows.json()["row"], bad_rows.json()["column"]) == (1, "x1")
    assert _revision(api, trained) == 2


def test_replacing_with_another_batchs_numbers_is_a_duplicate(api, trained, change) -> None:
    answer = change(api, trained, "put", 2, csv_text(*batch_data(1)), "copy.csv")
    assert answer.status_code == 409 and answer.json()["batch"] == 1
    assert _revision(api, trained) == 2


def test_replacing_a_deleted_or_unknown_batch_is_404(api, trained, change) -> None:
    assert change(api, trained, "delete", 1).status_code == 204
    for number in (1, 5):
        answer = change(api, trained, "put", number, csv_text(*batch_data(9)))
        assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert _revision(api, trained) == 3


def test_other_users_batches_are_404(trained, other, change) -> None:
    client = token_client(other)
    assert client.get(f"/api/datasets/{trained.pk}/batches/1/").status_code == 404
    assert change(client, trained, "delete", 1).status_code == 404
    assert change(client, trained, "put", 1, csv_text(*batch_data(9))).status_code == 404
    assert Batch.objects.filter(dataset=trained, deleted_at__isnull=True).count() == 2


def test_deleting_every_batch_leaves_an_empty_dataset_that_trains_again(api, trained, change, upload) -> None:
    for number in (1, 2):
        assert change(api, trained, "delete", number).status_code == 204
    body = api.get(f"/api/datasets/{trained.pk}/").json()
    assert (body["revision"], body["batches"], body["rows"], body["state"]) == (4, 0, 0, "empty")
    X, y = batch_data(3)
    assert upload(api, trained, csv_text(X, y), "b3.csv").json()["number"] == 3
    revision, optimum = _incremental_optimum(trained)
    assert revision == 5
    np.testing.assert_allclose(optimum, _lstsq([(X, y)]), rtol=1e-9, atol=1e-9)


def test_diabetes_in_five_batches_delete_three_replace_two_equals_lstsq(user, change, upload) -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_diabetes()
    names = list(data.feature_names)
    client = token_client(user)
    created = client.post("/api/datasets/", {"name": "diabetes", "features": names, "target": "y",
                                             "modes": ["incremental"]}, format="json")
    assert created.status_code == 201
    dataset = Dataset.objects.get(pk=created.json()["id"])
    parts = [(X, y) for X, y in zip(np.array_split(data.data, 5), np.array_split(data.target, 5))]

    def text(X: np.ndarray, y: np.ndarray) -> str:
        rows = "\n".join(",".join(repr(float(v)) for v in row) for row in np.column_stack([X, y]))
        return ",".join([*names, "y"]) + "\n" + rows + "\n"

    for number, (X, y) in enumerate(parts, start=1):
        assert upload(client, dataset, text(X, y), f"diabetes-{number}.csv").json()["number"] == number
    assert change(client, dataset, "delete", 3).status_code == 204
    replacement = (parts[1][0][:40], parts[1][1][:40] * 1.5)  # batch 2 corrected: fewer rows, other targets
    assert change(client, dataset, "put", 2, text(*replacement), "diabetes-2-fixed.csv").status_code == 202
    remaining = [parts[0], replacement, parts[3], parts[4]]
    revision, optimum = _incremental_optimum(dataset)
    assert revision == 7
    expected = _lstsq(remaining)
    np.testing.assert_allclose(optimum, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())
    model = client.get(f"/api/datasets/{dataset.pk}/model/").json()
    assert model["rows"] == sum(len(y) for _, y in remaining) and model["revision"] == 7


def test_replacement_beyond_the_value_limit_changes_nothing(api, trained, change) -> None:
    before = api.get(f"/api/datasets/{trained.pk}/batches/1/").json()
    answer = change(api, trained, "put", 1, "x0,x1,y\n1e200,2,3\n", "huge.csv")
    assert answer.status_code == 400
    body = answer.json()
    assert (body["file"], body["row"], body["column"]) == ("huge.csv", 1, "x0")
    assert "1e200 is beyond the limit" in body["reason"]
    assert api.get(f"/api/datasets/{trained.pk}/batches/1/").json() == before and _revision(api, trained) == 2
