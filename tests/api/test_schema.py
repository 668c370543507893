"""The OpenAPI 3 schema: served, valid, complete; the interactive docs use local assets only."""
from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

CONTRACT_PATHS = {
    "/api/auth/token/": {"post"},
    "/api/datasets/": {"get", "post"},
    "/api/datasets/{dataset_id}/": {"get", "patch", "delete"},
    "/api/datasets/{dataset_id}/batches/": {"get", "post"},
    "/api/datasets/{dataset_id}/model/": {"get"},
    "/api/datasets/{dataset_id}/predict/": {"post"},
    "/api/datasets/{dataset_id}/runs/": {"get"},
    "/api/datasets/{dataset_id}/memos/": {"get"},
}


def test_schema_generates_and_validates_without_warnings(tmp_path) -> None:
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "openapi: 3" in (tmp_path / "schema.yml").read_text()


def test_schema_endpoint_lists_the_contract(api) -> None:
    answer = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert answer.status_code == 200
    schema = answer.json()
    assert schema["openapi"].startswith("3.")
    for path, methods in CONTRACT_PATHS.items():
        assert methods <= set(schema["paths"][path]), path
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])
    upload = schema["paths"]["/api/datasets/{dataset_id}/batches/"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(upload)
    responses = schema["paths"]["/api/datasets/{dataset_id}/batches/"]["post"]["responses"]
    assert {"201", "202", "400", "409", "413"} <= set(responses)


def test_interactive_docs_are_served_from_local_static_files() -> None:
    answer = APIClient().get("/api/docs/")
    assert answer.status_code == 200
    html = answer.content.decode()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html) + re.findall(r'<link[^>]+href="([^"]+)"', html)
    assert scripts and all(src.startswith("/static/drf_spectacular_sidecar/") for src in scripts), scripts
    assert "cdn" not in html.lower()
