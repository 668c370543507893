"""Fuzzing: no request gets a server error, and a refused one stores nothing.

Schemathesis against the OpenAPI schema, in process over WSGI.  Requests carry a valid token,
and dataset ids are pointed at a real dataset (with a trained batch), so the fuzzing reaches
the handlers instead of stopping at 401 or 404.  Schemathesis's other default checks run too:
documented status codes, content types and response schemas, and schema-invalid requests
rejected.

Hypothesis beyond the schema: random bytes, random JSON (NaN and Infinity literals, huge
numbers, surrogates and NUL in strings, nesting past the limit, repeated keys, cut-off bodies,
other charsets) and random multipart CSV, under any content type, to the upload, batch
replace, predict, dataset create and token endpoints; every answer is JSON, below 500, and
one that refuses leaves every table as it was.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.specs.openapi.checks import positive_data_acceptance

from salsaweb.regression import scheduling, services

from .conftest import batch_data, csv_text, stored_state

#: Generated cases per API operation (20 operations: about 500 requests in all, as 17 x 30 were before).
EXAMPLES = 25


@pytest.mark.django_db(transaction=True)  # the WSGI handler commits and closes connections like a server
def test_no_server_errors_anywhere_in_the_schema(django_user_model, settings) -> None:
    user = django_user_model.objects.create_user(username="fuzz", password="fuzz-password-1")
    dataset = services.dataset_create(owner=user, name="fuzzed", features=["x0", "x1"], target="y",
                                      max_iterations=20)
    scheduling.batch_accept(dataset=dataset, content=csv_text(*batch_data(1)))
    Token.objects.create(user=user)
    rates = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"writes": "100000/min"}}
    with override_settings(REST_FRAMEWORK=rates):
        schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 20
        for operation in operations:
            _fuzz(operation, dataset.pk, user)


def _fuzz(operation: schemathesis.APIOperation, dataset_id: int, user: Any) -> None:
    """Run EXAMPLES generated requests against one operation and check every response."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        deletes_the_dataset = case.method.upper() == "DELETE" and case.path == "/api/datasets/{dataset_id}/"
        if "dataset_id" in (case.path_parameters or {}) and not deletes_the_dataset:
            case.path_parameters["dataset_id"] = dataset_id
        # Schema-valid data can still break a rule the schema cannot state (a target that is also a
        # feature, wrong credentials): a 400 for it is right, so that one check is left out.
        token = Token.objects.get(user=user).key  # the current one: POST /api/account/token/ replaces it
        case.call_and_validate(headers={"Authorization": f"Token {token}"}, excluded_checks=[positive_data_acceptance])

    check()


# --- Random bodies: bytes, JSON and multipart CSV against every endpoint that reads one ---------------------------

#: Requests (random bytes, JSON or multipart) in the quick run, and in the slow one (about 0.1 s each).
QUICK_EXAMPLES = 100
SLOW_EXAMPLES = 1500

_CONTENT_TYPES = ["application/json", "application/json; charset=utf-16", "application/json; charset=latin-1",
                  "application/json; charset=bogus", "application/json; charset=hex", "text/csv", "text/plain", "",
                  "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=fz"]
_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates and NUL included
_SCALARS = (st.none() | st.booleans() | st.integers(-(10**400), 10**400) | st.integers(-3, 3)
            | st.floats() | _TEXT)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
                     max_leaves=30)
_COLUMN = st.sampled_from(["x0", "x1", "y", "z", ""]) | _TEXT
_NUMBER = st.integers(-3, 3) | st.floats(-1e3, 1e3)
#: Rows the dataset (x0, x1 -> y) accepts, rows of anything, and anything.
_ROWS = st.lists(st.fixed_dictionaries({"x0": _NUMBER, "x1": _NUMBER, "y": _NUMBER}, optional={"z": _JSON})
                 | st.dictionaries(_COLUMN, _SCALARS | _JSON, max_size=5) | _JSON, max_size=5)
_NAMES = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True)
_SETTINGS = {"name": _TEXT, "features": _NAMES | st.lists(_COLUMN, max_size=3) | _JSON,
             "target": st.sampled_from(["t", "a"]) | _COLUMN | _JSON,
             "modes": st.lists(st.sampled_from(["incremental", "naive", "delta", "x"]), max_size=3) | _JSON,
             "learning_rate": _SCALARS, "momentum": _SCALARS, "max_iterations": _SCALARS, "tolerance": _SCALARS,
             "standardize": _SCALARS, "warm_start": _SCALARS, "window": _SCALARS, "l2": _SCALARS,
             "initial_weights": st.fixed_dictionaries({}, optional={"weights": st.dictionaries(_COLUMN, _SCALARS),
                                                                    "bias": _SCALARS}) | _JSON}
#: Bodies shaped like the endpoints' own, so that fuzzing reaches past the first field check.
_SHAPED = (st.fixed_dictionaries({"rows": _ROWS}, optional={"mode": _JSON, "revision": _SCALARS})
           | st.fixed_dictionaries({"name": _TEXT, "features": _NAMES, "target": st.just("t")},
                                   optional={key: value for key, value in _SETTINGS.items()
                                             if key not in {"name", "features", "target"}})
           | st.fixed_dictionaries({}, optional=_SETTINGS)
           | st.fixed_dictionaries({"username": st.just("ada") | _TEXT | _JSON,
                                    "password": st.just("secret-pw-1") | _TEXT | _JSON})
           | _JSON)


@st.composite
def _json_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A JSON body as text: shaped or random, with NaN/Infinity literals, maybe nested deep, repeated keys or cut."""
    text = json.dumps(draw(_SHAPED), allow_nan=True, ensure_ascii=draw(st.booleans()))
    form = draw(st.sampled_from(["plain", "nested", "repeated", "cut"]))
    if form == "nested":
        depth = draw(st.sampled_from([31, 32, 33, 1000, 100_000]))
        text = '{"rows": ' + "[" * depth + text + "]" * depth + "}"
    elif form == "repeated":
        text = '{"rows": ' + text + ', "rows": ' + json.dumps(draw(_ROWS), allow_nan=True) + "}"
    elif form == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    if draw(st.booleans()):
        return "application/json", text.encode("utf-8", "surrogatepass")
    content_type = draw(st.sampled_from(_CONTENT_TYPES))
    return content_type, text.encode("utf-16" if "utf-16" in content_type else "utf-8", "surrogatepass")


_CELL = st.sampled_from(["1", "-2.5", "3e2", "", " 4 ", "nan", "inf", "-inf", "1e400", "1e76", "0x1F", '"5"', "1,2",
                         "\u00e9", "\x00"]) | st.floats().map(repr) | _TEXT
_LINE_END = st.sampled_from(["\n", "\r\n", "\r", ""])


@st.composite
def _csv_texts(draw: st.DrawFn) -> bytes:
    """CSV text: a header of the dataset's columns (or not) and rows of numbers and near-numbers, or random bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=200))
    header = draw(st.permutations(["x0", "x1", "y"])) if draw(st.integers(0, 2)) else draw(st.lists(_COLUMN,
                                                                                                max_size=4))
    numbers = st.lists(_NUMBER.map(repr), min_size=len(header), max_size=len(header))
    cells = numbers if draw(st.integers(0, 2)) else st.lists(_CELL, max_size=4)
    lines = [",".join(header)] + [",".join(draw(cells)) for _ in range(draw(st.integers(0, 4)))]
    text = "".join(line + ("\n" if draw(st.integers(0, 2)) else draw(_LINE_END)) for line in lines)
    encoding = "utf-8" if draw(st.integers(0, 2)) else draw(st.sampled_from(["utf-8-sig", "utf-16", "latin-1"]))
    return text.encode(encoding, "replace")


@st.composite
def _multipart_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A multipart body of one to three parts, mostly CSV files under ``file``, mostly well framed."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        name = "file" if draw(st.integers(0, 2)) else draw(st.sampled_from(["rows", "username"]) | _TEXT)
        disposition = b'Content-Disposition: form-data; name="' + name.encode("utf-8", "surrogatepass") + b'"'
        if draw(st.integers(0, 3)):
            filename = draw(st.sampled_from(["b.csv", "", "../../etc/passwd", "a" * 400]) | _TEXT)
            disposition += b'; filename="' + filename.encode("utf-8", "surrogatepass") + b'"'
        content = draw(_csv_texts())
        parts.append(b"--fz\r\n" + disposition + b"\r\n\r\n" + content + b"\r\n")
    framed = draw(st.integers(0, 3)) > 0
    body = b"".join(parts) + (b"--fz--\r\n" if framed else draw(st.sampled_from([b"--fz", b""])))
    return "multipart/form-data; boundary=fz" if framed else "multipart/form-data", body


_BODIES = (st.tuples(st.just("bytes"), st.sampled_from(_CONTENT_TYPES), st.binary(max_size=300))
           | _json_bodies().map(lambda body: ("json", *body)) | _multipart_bodies().map(lambda body: ("multipart", *body)))


@pytest.mark.django_db
def test_random_bodies_never_get_a_server_error_and_refused_ones_store_nothing(api, trained, settings) -> None:
    _fuzz_bodies(api, trained.pk, QUICK_EXAMPLES, settings)


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.timeout(900)
def test_many_random_bodies_never_get_a_server_error_and_refused_ones_store_nothing(api, trained, settings) -> None:
    _fuzz_bodies(api, trained.pk, SLOW_EXAMPLES, settings)


def _fuzz_bodies(api: APIClient, dataset_id: int, examples: int, settings: Any) -> None:
    """Send ``examples`` random bodies, each to one of upload, replace, predict, create and token."""
    base = f"/api/datasets/{dataset_id}/"
    targets = [(api, "POST", base + "batches/"), (api, "PUT", base + "batches/1/"), (api, "POST", base + "predict/"),
               (api, "POST", "/api/datasets/"), (APIClient(), "POST", "/api/auth/token/")]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"writes": "1000000/min"}}
    tried: Counter[tuple[str, int]] = Counter()
    state = [stored_state()]  # as the last accepted request left it

    @given(target=st.sampled_from(targets), body=_BODIES)
    @hypothesis_settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))
    def check(target: tuple[APIClient, str, str], body: tuple[str, str, bytes]) -> None:
        client, method, path = target
        kind, content_type, data = body
        answer = client.generic(method, path, data, content_type=content_type)
        tried[kind, answer.status_code] += 1
        assert answer.status_code < 500, (method, path, content_type, data[:300])
        assert answer["Content-Type"] == "application/json"
        if answer.status_code >= 400:
            assert "code" in answer.json()
            assert stored_state() == state[0], (method, path, answer.status_code, answer.json())
        else:
            state[0] = stored_state()

    check()
    print(f"\nfuzzed {sum(tried.values())} requests; (kind, status): count", dict(sorted(tried.items())))
