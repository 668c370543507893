"""Datasets: create, list (paginated, filtered), retrieve, delete; field errors in the stable shape."""
from __future__ import annotations

import pytest

from runtime.db.models import Namespace
from salsaweb.regression import services
from salsaweb.regression.models import Dataset

from .conftest import batch_data, csv_text, token_client

pytestmark = pytest.mark.django_db


def test_create_returns_201_with_id_and_defaults(api, user) -> None:
    answer = api.post("/api/datasets/", {"name": "houses", "features": ["size", "rooms"], "target": "price"},
                      format="json")
    assert answer.status_code == 201
    body = answer.json()
    assert isinstance(body["id"], int)
    assert body["modes"] == ["incremental", "naive"]
    assert (body["owner"], body["revision"], body["rows"], body["state"]) == ("ada", 0, 0, "empty")
    assert (body["max_iterations"], body["learning_rate"], body["standardize"]) == (100, None, True)
    assert Dataset.objects.get(pk=body["id"]).owner == user


def test_create_with_modes_and_training_settings(api) -> None:
    body = api.post("/api/datasets/", {
        "name": "d", "features": ["a"], "target": "b", "modes": ["delta"], "learning_rate": 0.1, "momentum": 0.5,
        "max_iterations": 7, "tolerance": 0.0, "standardize": False, "warm_start": True,
        "initial_weights": {"weights": {"a": 1.0}, "bias": 2.0},
    }, format="json").json()
    dataset = Dataset.objects.get(pk=body["id"])
    assert (dataset.modes, dataset.learning_rate, dataset.momentum, dataset.max_iterations) == (["delta"], 0.1, 0.5, 7)
    assert (dataset.standardize, dataset.warm_start, dataset.initial_weights["bias"]) == (False, True, 2.0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"features": ["a"], "target": "b"}, "name"),
        ({"name": "d", "target": "b"}, "features"),
        ({"name": "d", "features": [], "target": "b"}, "features"),
        ({"name": "d", "features": "a,b", "target": "c"}, "features"),
        ({"name": "d", "features": ["a", "a"], "target": "b"}, "features"),
        ({"name": "d", "features": ["a"], "target": "a"}, "target"),
        ({"name": "d", "features": ["a"]}, "target"),
        ({"name": "d", "features": ["a"], "target": "b", "modes": []}, "modes"),
        ({"name": "d", "features": ["a"], "target": "b", "modes": ["exact"]}, "modes"),
        ({"name": "d", "features": ["a"], "target": "b", "momentum": 1.5}, "momentum"),
        ({"name": "d", "features": ["a"], "target": "b", "max_iterations": 0}, "max_iterations"),
        ({"name": "d", "features": ["a"], "target": "b", "learning_rate": "fast"}, "learning_rate"),
        ({"name": " d", "features": ["a"], "target": "b"}, "name"),
        ({"name": "d", "features": ["a"], "target": "b", "initial_weights": {"weights": {"z": 1}}},
         "initial_weights"),
    ],
)
def test_create_errors_name_the_field(api, body, field) -> None:
    answer = api.post("/api/datasets/", body, format="json")
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid" and answer.json()["detail"] == "Invalid input."
    assert field in answer.json()["fields"]
    assert not Dataset.objects.exists()


def test_names_are_unique_per_owner(api, other) -> None:
    body = {"name": "same", "features": ["a"], "target": "b"}
    assert api.post("/api/datasets/", body, format="json").status_code == 201
    again = api.post("/api/datasets/", body, format="json")
    assert again.status_code == 400 and "already have a dataset named 'same'" in again.json()["fields"]["name"][0]
    assert token_client(other).post("/api/datasets/", body, format="json").status_code == 201


def test_malformed_json_is_a_parse_error(api) -> None:
    answer = api.post("/api/datasets/", "{not json", content_type="application/json")
    assert answer.status_code == 400 and answer.json()["code"] == "parse_error"


def test_list_is_paginated_filtered_and_shows_size_revision_state(api, user, upload) -> None:
    for i in range(3):
        services.dataset_create(owner=user, name=f"set-{i}", features=["x0", "x1"], target="y")
    first = Dataset.objects.get(name="set-0")
    assert upload(api, first, csv_text(*batch_data(1, rows=30))).status_code == 202
    page = api.get("/api/datasets/", {"page_size": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"] and page["previous"] is None
    assert [(d["name"], d["revision"], d["rows"], d["state"]) for d in page["results"]] == [
        ("set-0", 1, 30, "trained"), ("set-1", 0, 0, "empty")]
    second = api.get(page["next"]).json()
    assert [d["name"] for d in second["results"]] == ["set-2"]
    assert [d["name"] for d in api.get("/api/datasets/", {"name": "T-1"}).json()["results"]] == ["set-1"]
    assert api.get("/api/datasets/", {"page": 99}).json()["code"] == "not_found"


def test_retrieve_and_delete(api, dataset, upload) -> None:
    upload(api, dataset, csv_text(*batch_data(1)))
    body = api.get(f"/api/datasets/{dataset.pk}/").json()
    assert (body["id"], body["features"], body["target"], body["revision"]) == (dataset.pk, ["x0", "x1"], "y", 1)
    assert api.delete(f"/api/datasets/{dataset.pk}/").status_code == 204
    assert api.get(f"/api/datasets/{dataset.pk}/").status_code == 404
    assert Namespace.objects.get(name=dataset.namespace).deleted_at is not None


@pytest.mark.parametrize("path", ["/api/datasets/abc/", "/api/datasets/1234567890123456789012/",
                                  "/api/datasets/99999/", "/api/datasets/99999/runs/", "/api/nothing/here"])
def test_unknown_ids_and_paths_are_json_404s(api, path) -> None:
    answer = api.get(path)
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
