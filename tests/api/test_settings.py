"""PATCH /api/datasets/{id}/: training settings change with create's validation, as a new revision that retrains."""
from __future__ import annotations

from typing import Any

import pytest
from rest_framework.response import Response
from rest_framework.test import APIClient

from salsaweb.regression import inputs
from salsaweb.regression.models import BatchRun, Dataset
from salsaweb.regression.runtimes import dataset_runtime

from .conftest import batch_data, token_client

pytestmark = pytest.mark.django_db


def _patch(client: APIClient, dataset: Dataset, body: dict[str, Any], capture: Any) -> Response:
    with capture(execute=True):
        return client.patch(f"/api/datasets/{dataset.pk}/", body, format="json")


def test_create_takes_window_and_l2_with_defaults(api) -> None:
    plain = api.post("/api/datasets/", {"name": "a", "features": ["x"], "target": "y"}, format="json").json()
    assert (plain["window"], plain["l2"]) == (None, 0.0)
    body = api.post("/api/datasets/", {"name": "b", "features": ["x"], "target": "y", "window": 3, "l2": 0.5},
                    format="json").json()
    assert (body["window"], body["l2"]) == (3, 0.5)
    settings = inputs.training_settings(dataset_runtime(Dataset.objects.get(pk=body["id"])))
    assert (settings["window"], settings["l2"]) == (3, 0.5)


def test_patch_changes_settings_as_a_new_revision_and_retrains(api, trained,
                                                               django_capture_on_commit_callbacks) -> None:
    answer = _patch(api, trained, {"max_iterations": 7, "tolerance": 0.0, "window": 1, "l2": 2.5,
                                   "modes": ["incremental"]}, django_capture_on_commit_callbacks)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["max_iterations"], body["tolerance"], body["window"], body["l2"], body["modes"]) == (
        7, 0.0, 1, 2.5, ["incremental"])
    assert body["revision"] == 3 and body["batches"] == 2
    settings = inputs.training_settings(dataset_runtime(trained))
    assert (settings["max_iterations"], settings["window"], settings["l2"]) == (7, 1, 2.5)
    run = BatchRun.objects.get(dataset=trained, mode="incremental", revision=3)
    # retrained at the new revision with the new settings: at most 7 iterations, on the last batch only
    assert run.iterations <= 7 and run.rows_total == len(batch_data(2)[1])
    model = api.get(f"/api/datasets/{trained.pk}/model/").json()
    assert (model["revision"], model["up_to_date"]) == (3, True)
    assert api.get(f"/api/datasets/{trained.pk}/").json()["state"] == "trained"


def test_patch_back_to_null_and_equal_settings_change_nothing(api, trained,
                                                             django_capture_on_commit_callbacks) -> None:
    assert _patch(api, trained, {"window": 2}, django_capture_on_commit_callbacks).json()["revision"] == 3
    assert _patch(api, trained, {"window": None}, django_capture_on_commit_callbacks).json()["window"] is None
    same = _patch(api, trained, {"window": None, "max_iterations": 50}, django_capture_on_commit_callbacks)
    assert same.status_code == 200 and same.json()["revision"] == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"window": 0}, "window"),
        ({"window": "two"}, "window"),
        ({"l2": -1.0}, "l2"),
        ({"l2": "lots"}, "l2"),
        ({"max_iterations": 0}, "max_iterations"),
        ({"momentum": 1.5}, "momentum"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"modes": ["incremental", "incremental"]}, "modes"),
        ({"modes": []}, "modes"),
        ({"initial_weights": {"weights": {"nope": 1.0}}}, "initial_weights"),
        ({"features": ["a"]}, "features"),
        ({"target": "z"}, "target"),
        ({"name": "renamed"}, "name"),
    ],
)
def test_patch_errors_name_the_field_and_change_nothing(api, trained, body, field,
                                                        django_capture_on_commit_callbacks) -> None:
    before = api.get(f"/api/datasets/{trained.pk}/").json()
    answer = _patch(api, trained, body, django_capture_on_commit_callbacks)
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid" and field in answer.json()["fields"]
    assert api.get(f"/api/datasets/{trained.pk}/").json() == before


def test_patch_of_other_users_dataset_is_404(trained, other, django_capture_on_commit_callbacks) -> None:
    answer = _patch(token_client(other), trained, {"l2": 1.0}, django_capture_on_commit_callbacks)
    assert answer.status_code == 404
    trained.refresh_from_db()
    assert trained.l2 == 0.0 and trained.revision == 2


def test_patch_without_batches_starts_a_revision_but_queues_nothing(api, dataset,
                                                                    django_capture_on_commit_callbacks) -> None:
    body = _patch(api, dataset, {"l2": 1.0}, django_capture_on_commit_callbacks).json()
    assert (body["revision"], body["state"], body["l2"]) == (1, "empty", 1.0)
    assert not dataset.training_states.exists()
