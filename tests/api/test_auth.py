"""Token and session auth, ownership (others' datasets are 404, staff see all) and write throttling."""
from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from salsaweb.regression import services

from .conftest import token_client

pytestmark = pytest.mark.django_db

NESTED = ["batches", "model", "runs", "curves", "memos", "training"]


def test_token_for_username_and_password(user) -> None:
    answer = APIClient().post("/api/auth/token/", {"username": "ada", "password": "secret-pw-1"}, format="json")
    assert answer.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {answer.json()['token']}")
    assert client.get("/api/datasets/").status_code == 200


def test_token_for_a_wrong_password_is_401_json(user) -> None:
    answer = APIClient().post("/api/auth/token/", {"username": "ada", "password": "wrong"}, format="json")
    assert answer.status_code == 401
    assert answer.json() == {"code": "invalid_credentials", "detail": "Unable to log in with provided credentials."}
    assert answer["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"username": "ada"}, "password"), ({}, "username"), ({"username": "ada", "password": ""}, "password")],
)
def test_token_refused_with_field_errors(user, body, field) -> None:
    answer = APIClient().post("/api/auth/token/", body, format="json")
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid" and field in answer.json()["fields"]
    assert "token" not in answer.json()


def _anonymous_requests(dataset_id: int) -> list[tuple[str, str]]:
    base = f"/api/datasets/{dataset_id}/"
    return [("get", "/api/datasets/"), ("post", "/api/datasets/"), ("get", base), ("delete", base),
            ("post", base + "batches/"), ("post", base + "predict/"), *[("get", base + name + "/") for name in NESTED]]


def test_anonymous_requests_get_401_and_no_data(dataset) -> None:
    for method, url in _anonymous_requests(dataset.pk):
        answer = getattr(APIClient(), method)(url, {}, format="json")
        assert answer.status_code == 401, (method, url)
        assert answer.json() == {"code": "not_authenticated",
                                 "detail": "Authentication credentials were not provided."}
        assert answer["WWW-Authenticate"] == "Token"
    assert services.Dataset.objects.filter(pk=dataset.pk).exists()


def test_bad_token_is_401(dataset) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    answer = client.get("/api/datasets/")
    assert answer.status_code == 401 and answer.json()["code"] == "authentication_failed"


def test_session_auth_reads_and_needs_csrf_for_writes(user, dataset) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(f"/api/datasets/{dataset.pk}/").json()["name"] == "lines"
    refused = client.post("/api/datasets/", {"name": "n", "features": ["a"], "target": "b"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert "CSRF" in refused.json()["detail"]


def test_other_users_datasets_are_not_found_anywhere(dataset, other) -> None:
    client = token_client(other)
    assert client.get("/api/datasets/").json()["count"] == 0
    base = f"/api/datasets/{dataset.pk}/"
    for method, url in [("get", base), ("delete", base), ("post", base + "batches/"), ("post", base + "predict/"),
                        *[("get", base + name + "/") for name in NESTED]]:
        body = {"rows": [{"x0": 1, "x1": 2}]} if method == "post" else None  # a GET's data is its query string
        answer = getattr(client, method)(url, body, format="json")
        assert answer.status_code == 404, (method, url)
        assert answer.json()["code"] == "not_found"
    assert services.Dataset.objects.filter(pk=dataset.pk).exists()


def test_staff_see_and_change_every_dataset(dataset, staff) -> None:
    client = token_client(staff)
    listed = client.get("/api/datasets/").json()["results"]
    assert [(d["name"], d["owner"]) for d in listed] == [("lines", "ada")]
    for name in NESTED:
        assert client.get(f"/api/datasets/{dataset.pk}/{name}/").status_code in (200, 404)
    assert client.get(f"/api/datasets/{dataset.pk}/runs/").status_code == 200
    assert client.delete(f"/api/datasets/{dataset.pk}/").status_code == 204


def test_writes_are_throttled_reads_are_not(api, settings) -> None:
    rates = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"writes": "3/min"}}
    with override_settings(REST_FRAMEWORK=rates):
        answers = [api.post("/api/datasets/", {"name": f"d{i}", "features": ["a"], "target": "b"}, format="json")
                   for i in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        body = answers[-1].json()
        assert body["code"] == "throttled" and 0 < body["wait"] <= 60
        assert int(answers[-1]["Retry-After"]) > 0
        assert all(api.get("/api/datasets/").status_code == 200 for _ in range(5))


def test_token_endpoint_is_throttled_per_address(user, settings) -> None:
    rates = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"writes": "2/min"}}
    with override_settings(REST_FRAMEWORK=rates):
        codes = [APIClient().post("/api/auth/token/", {"username": "ada", "password": f"guess{i}"},
                                  format="json").status_code for i in range(3)]
    assert codes == [401, 401, 429]
