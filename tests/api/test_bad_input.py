"""Hostile and careless request bodies: JSON nested without end, bodies past Django's limits, writes to unknown paths.

Each is answered with the API's JSON error shape (400 naming the problem, 413 over the upload
limit, 404 for a path that names nothing, whatever the method) and stores nothing.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from salsaweb.api.parsers import MAX_JSON_DEPTH, json_nesting_exceeds

from .conftest import stored_state

pytestmark = pytest.mark.django_db

#: Deeper than the json module (and Python's recursion limit) can follow.
ABYSS = 50_000


def _nested(depth: int, leaf: str = "1") -> bytes:
    """``{"rows": [[...[leaf]...]]}`` whose arrays and object nest ``depth`` levels deep in all."""
    return ('{"rows": ' + "[" * (depth - 1) + leaf + "]" * (depth - 1) + "}").encode()


def _json_writes(dataset_id: int) -> list[tuple[str, str]]:
    """Every endpoint that reads a JSON body: (method, path)."""
    base = f"/api/datasets/{dataset_id}/"
    return [("post", "/api/auth/token/"), ("post", "/api/datasets/"), ("patch", base), ("post", base + "batches/"),
            ("put", base + "batches/1/"), ("post", base + "predict/")]


def _send(client: APIClient, method: str, path: str, body: bytes) -> Any:
    return getattr(client, method)(path, body, content_type="application/json")


def test_json_nested_beyond_the_parser_is_a_400_on_every_json_endpoint_anonymous_token_too(api, trained) -> None:
    before = stored_state()
    for method, path in _json_writes(trained.pk):
        client = APIClient() if path == "/api/auth/token/" else api
        answer = _send(client, method, path, _nested(ABYSS))
        assert answer.status_code == 400, (method, path)
        assert answer.json() == {"code": "parse_error", "detail": "JSON parse error - arrays and objects nested "
                                                                  f"deeper than {MAX_JSON_DEPTH} levels"}
    assert stored_state() == before


def test_json_one_level_past_the_nesting_limit_is_refused_and_at_it_reaches_the_handler(api, dataset) -> None:
    path = f"/api/datasets/{dataset.pk}/batches/"
    refused = _send(api, "post", path, _nested(MAX_JSON_DEPTH + 1))
    assert refused.status_code == 400 and refused.json()["code"] == "parse_error"
    # At the limit the body is read, and the handler says what is wrong with its rows.
    read = _send(api, "post", path, _nested(MAX_JSON_DEPTH))
    assert read.status_code == 400 and (read.json()["code"], read.json()["row"]) == ("invalid_rows", 1)
    # Brackets, quotes and backslashes inside strings are not nesting.
    noisy = json.dumps({"rows": [{"x0": 1, "x1": 2, "y": 3, "note": '[{"\\' * 100}]}).encode()
    assert _send(api, "post", path, noisy).status_code == 202


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_TRICKY_TEXT = st.text(alphabet='[]{}"\\,:ab\u00e9\u20ac\U0001f600\n', max_size=8)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TRICKY_TEXT,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY_TEXT, inner, max_size=3),
                     max_leaves=40)


@given(value=_JSON, ensure_ascii=st.booleans(), limit=st.integers(0, 8))
@hypothesis_settings(max_examples=300, deadline=None, database=None, derandomize=True)
def test_nesting_check_agrees_with_the_parsed_depth(value, ensure_ascii, limit) -> None:
    body = json.dumps(value, ensure_ascii=ensure_ascii).encode()
    assert json_nesting_exceeds(body, limit) == (_depth(value) > limit)


def test_json_body_past_djangos_own_memory_limit_but_under_the_upload_limit_is_accepted(api, dataset) -> None:
    body = json.dumps({"rows": [{"x0": 1, "x1": 2, "y": 3, "note": "n" * (3 * 1024 * 1024)}]}).encode()
    assert 2.5 * 1024 * 1024 < len(body) < settings.SALSAWEB_MAX_UPLOAD_BYTES
    answer = _send(api, "post", f"/api/datasets/{dataset.pk}/batches/", body)
    assert answer.status_code == 202 and answer.json()["rows"] == 1


def test_json_body_past_the_upload_limit_is_a_json_413_and_stores_nothing(api, trained) -> None:
    limit = settings.SALSAWEB_MAX_UPLOAD_BYTES
    body = json.dumps({"rows": [{"x0": 1, "x1": 2, "y": 3, "note": "n" * limit}]}).encode()
    before = stored_state()
    for method, path in _json_writes(trained.pk):
        answer = _send(APIClient() if path == "/api/auth/token/" else api, method, path, body)
        assert answer.status_code == 413, (method, path)
        assert answer.json() == {"code": "too_large", "file": None, "limit_bytes": limit,
                                 "detail": f"the request body is larger than the upload limit of {limit:,} bytes"}
    assert stored_state() == before


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_api_paths_are_json_404s_whatever_the_method_and_csrf_state(user, method) -> None:
    signed_in = APIClient(enforce_csrf_checks=True)  # as a browser session: Django's CSRF check is on
    signed_in.force_login(user)
    for client in (APIClient(enforce_csrf_checks=True), signed_in):
        for path in ("/api/nothing/here", "/api/datasets/1/nothing/", "/api/auth/token/extra/"):
            answer = getattr(client, method)(path, {"a": 1}, format="json")
            assert answer.status_code == 404, (method, path)
            assert answer.json() == {"code": "not_found", "detail": "Not found."}


def test_more_form_fields_or_files_than_django_reads_are_json_400s(api, dataset) -> None:
    fields = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    answer = APIClient().post("/api/auth/token/", fields, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400
    assert answer.json() == {"code": "parse_error", "detail": "Form parse error - more than "
                                                              f"{settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields"}
    files = {f"file{i}": SimpleUploadedFile(f"b{i}.csv", b"x0,x1,y\n1,2,3\n")
             for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)}
    before = stored_state()
    answer = api.post(f"/api/datasets/{dataset.pk}/batches/", files, format="multipart")
    assert answer.status_code == 400
    assert answer.json() == {"code": "parse_error", "detail": "Form parse error - more than "
                                                              f"{settings.DATA_UPLOAD_MAX_NUMBER_FILES} files"}
    assert stored_state() == before
