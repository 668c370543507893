"""The API's edges: a revision that does not exist, unknown query parameters, short function names, Location on
201, the error codes in the schema and docs, one name for the dataset in every path."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from salsaweb.api.exceptions import ERROR_CODES
from salsaweb.regression import scheduling

from .conftest import batch_data, csv_text

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("endpoint", ["model", "predict"])
def test_a_revision_beyond_the_latest_is_404_naming_it_and_the_latest(api, trained, endpoint) -> None:
    url = f"/api/datasets/{trained.pk}/{endpoint}/"
    if endpoint == "model":
        answer = api.get(url, {"mode": "naive", "revision": 7})
    else:
        answer = api.post(url, {"mode": "naive", "revision": 7, "rows": [{"x0": 1, "x1": 2}]}, format="json")
    assert answer.status_code == 404
    body = answer.json()
    assert (body["code"], body["mode"], body["revision"], body["latest_revision"], body["latest_model_revision"]) == (
        "no_such_revision", "naive", 7, 2, 2)
    assert body["detail"] == ("revision 7 does not exist: this dataset's latest revision is 2; "
                              "the latest naive model is at revision 2")


def test_a_revision_trained_together_with_the_next_has_no_model_and_names_the_latest(
        api, dataset, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # both queued before either trains: one update
        scheduling.batch_accept(dataset=dataset, content=csv_text(*batch_data(1)))
        scheduling.batch_accept(dataset=dataset, content=csv_text(*batch_data(2)))
    answer = api.post(f"/api/datasets/{dataset.pk}/predict/", {"revision": 1, "rows": [{"x0": 1, "x1": 2}]},
                      format="json")
    assert answer.status_code == 404
    assert answer.json() == {"code": "not_trained", "mode": "incremental", "revision": 1, "latest_model_revision": 2,
                             "detail": "no incremental model at revision 1 for this dataset; the latest incremental "
                                       "model is at revision 2"}
    assert api.post(f"/api/datasets/{dataset.pk}/predict/", {"revision": 2, "rows": [{"x0": 1, "x1": 2}]},
                    format="json").status_code == 200


def test_an_untrained_dataset_says_it_has_no_model_yet(api, dataset) -> None:
    answer = api.get(f"/api/datasets/{dataset.pk}/model/")
    assert answer.status_code == 404
    assert answer.json() == {"code": "not_trained", "mode": "incremental", "revision": None,
                             "latest_model_revision": None,
                             "detail": "no incremental model for this dataset; it has none yet"}


LISTS_AND_FILTERS = ["", "{id}/", "{id}/batches/", "{id}/batches/1/", "{id}/model/", "{id}/runs/", "{id}/curves/",
                     "{id}/memos/", "{id}/training/"]


@pytest.mark.parametrize("path", LISTS_AND_FILTERS)
def test_an_unknown_query_parameter_is_400_naming_it(api, trained, path) -> None:
    answer = api.get(f"/api/datasets/{path.format(id=trained.pk)}", {"label": "x"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid" and list(body["fields"]) == ["label"]
    assert body["fields"]["label"][0].startswith("unknown query parameter; this endpoint takes")


def test_the_error_names_what_the_endpoint_takes(api, trained) -> None:
    answer = api.get(f"/api/datasets/{trained.pk}/memos/", {"label": "x", "functon": "statistics"}).json()
    assert answer["fields"] == {
        "label": ["unknown query parameter; this endpoint takes function, page, page_size"],
        "functon": ["unknown query parameter; this endpoint takes function, page, page_size"],
    }
    model = api.get(f"/api/datasets/{trained.pk}/model/", {"batch": 1}).json()
    assert model["fields"] == {"batch": ["unknown query parameter; this endpoint takes mode, revision"]}
    training = api.get(f"/api/datasets/{trained.pk}/training/", {"mode": "naive"}).json()
    assert training["fields"] == {"mode": ["unknown query parameter; this endpoint takes none"]}


def test_known_query_parameters_still_filter(api, trained) -> None:
    runs = api.get(f"/api/datasets/{trained.pk}/runs/", {"mode": "naive", "revision_min": 2, "page": 1}).json()
    assert [(run["mode"], run["revision"]) for run in runs["results"]] == [("naive", 2)]
    assert api.get("/api/datasets/", {"name": "LIN"}).json()["count"] == 1


def test_memos_match_a_function_by_its_short_name_too(api, trained) -> None:
    url = f"/api/datasets/{trained.pk}/memos/"
    short = api.get(url, {"function": "statistics", "page_size": 1000}).json()
    assert short["count"] >= 1
    full_names = {memo["function"] for memo in short["results"]}
    assert full_names == {"salsaweb.regression.statistics.statistics"}
    full = api.get(url, {"function": "salsaweb.regression.statistics.statistics", "page_size": 1000}).json()
    assert full["count"] == short["count"]
    assert api.get(url, {"function": "statistics.statistics"}).json()["count"] == short["count"]
    assert api.get(url, {"function": "tistics"}).json()["count"] == 0  # a dotted part, not any suffix
    assert api.get(url, {"function": "nothing"}).json()["count"] == 0


def test_a_created_dataset_and_an_added_batch_give_their_address_in_location(api, dataset, upload) -> None:
    created = api.post("/api/datasets/", {"name": "new", "features": ["a"], "target": "b"}, format="json")
    assert created.status_code == 201
    assert created["Location"] == f"http://testserver/api/datasets/{created.json()['id']}/"
    assert api.get(created["Location"]).json()["name"] == "new"
    added = upload(api, dataset, csv_text(*batch_data(1)))
    assert added.status_code == 202
    assert added["Location"] == f"http://testserver/api/datasets/{dataset.pk}/batches/1/"
    assert api.get(added["Location"]).json()["number"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_batch_trained_before_the_response_gives_201_with_location(api, dataset) -> None:
    answer = api.post(f"/api/datasets/{dataset.pk}/batches/",
                      {"file": SimpleUploadedFile("a.csv", csv_text(*batch_data(1)).encode())}, format="multipart")
    assert answer.status_code == 201
    assert answer["Location"] == f"http://testserver/api/datasets/{dataset.pk}/batches/1/"


@pytest.fixture
def schema(api) -> dict:
    """The served OpenAPI schema."""
    return api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_every_error_response_in_the_schema_names_its_codes(schema) -> None:
    codes = {error.code: error.status for error in ERROR_CODES}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                named = re.findall(r"`(\w+)`: ", response["description"])
                assert named, (method, path, status)
                assert all(codes[code] == int(status) for code in named), (method, path, status, named)
    for error in ERROR_CODES:
        assert f"| `{error.code}` | {error.status} |" in schema["info"]["description"]
    assert "exceptions.py" not in schema["info"]["description"]


def test_model_and_predict_list_the_revision_errors(schema) -> None:
    for path, method in [("/api/datasets/{dataset_id}/model/", "get"), ("/api/datasets/{dataset_id}/predict/", "post")]:
        not_found = schema["paths"][path][method]["responses"]["404"]["description"]
        assert {"not_found", "no_such_revision", "not_trained"} <= set(re.findall(r"`(\w+)`: ", not_found))


def test_the_docs_list_every_error_code(schema) -> None:
    docs = (ROOT / "docs" / "api.md").read_text()
    listed = re.findall(r"^\| `(\w+)` \| (\d+) \|", docs, flags=re.MULTILINE)
    assert listed == [(error.code, str(error.status)) for error in ERROR_CODES]


def test_every_path_names_the_dataset_dataset_id(schema) -> None:
    dataset_paths = [path for path in schema["paths"] if path.startswith("/api/datasets/{")]
    assert dataset_paths and all(path.startswith("/api/datasets/{dataset_id}/") for path in dataset_paths)
    assert not [path for path in schema["paths"] if "{id}" in path or "{pk}" in path]
