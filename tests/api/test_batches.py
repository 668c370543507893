"""Batches: CSV files and JSON rows; precise errors that store nothing; 413 over the limit; duplicates."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from runtime.db.models import InputValue
from salsaweb.regression.models import Batch, BatchRun

from .conftest import batch_data, csv_text

pytestmark = pytest.mark.django_db


def _nothing_stored(dataset) -> None:
    assert not Batch.objects.filter(dataset=dataset).exists()
    for function in (".batch", ".batch_moments"):  # a batch's rows and their statistics
        assert not InputValue.objects.filter(namespace__name=dataset.namespace, function__endswith=function).exists()


def test_csv_file_becomes_the_next_batch_and_trains(api, dataset, upload) -> None:
    answer = upload(api, dataset, csv_text(*batch_data(1, rows=40)), "first.csv")
    assert answer.status_code == 202
    body = answer.json()
    assert (body["number"], body["rows"], body["revision"], body["source"]) == (1, 40, 1, "first.csv")
    assert body["training"] == "queued"  # the response leaves before the queued training runs
    assert BatchRun.objects.filter(dataset=dataset).count() == 2  # ...which then covered both modes
    second = upload(api, dataset, csv_text(*batch_data(2, rows=10)), "second.csv").json()
    assert (second["number"], second["revision"]) == (2, 2)
    listed = api.get(f"/api/datasets/{dataset.pk}/batches/").json()
    assert listed["count"] == 2
    assert [(b["number"], b["rows"], b["source"]) for b in listed["results"]] == [(1, 40, "first.csv"),
                                                                                (2, 10, "second.csv")]


@pytest.mark.django_db(transaction=True)
def test_batch_trained_before_the_response_answers_201(api, dataset) -> None:
    # Without a surrounding transaction the eager tasks run at commit, inside the request.
    answer = api.post(f"/api/datasets/{dataset.pk}/batches/",
                      {"file": SimpleUploadedFile("a.csv", csv_text(*batch_data(1)).encode())}, format="multipart")
    assert answer.status_code == 201 and answer.json()["training"] == "done"


def test_columns_in_any_order_and_extra_columns_ignored(api, dataset, upload) -> None:
    text = "note,y,x1,id,x0\nfirst,5,1,7,2\nsecond,6,2,8,3\n"
    assert upload(api, dataset, text).status_code == 202
    run = BatchRun.objects.filter(dataset=dataset, mode="incremental").get()
    assert run.rows_total == 2


def test_json_rows_become_a_batch_and_equal_csv_is_a_duplicate(api, dataset, upload,
                                                                django_capture_on_commit_callbacks) -> None:
    X, y = batch_data(3, rows=5)
    rows = [{"x0": a, "x1": b, "y": t, "comment": "ignored"} for (a, b), t in zip(X.tolist(), y.tolist())]
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(f"/api/datasets/{dataset.pk}/batches/", {"rows": rows}, format="json")
    assert answer.status_code == 202
    assert (answer.json()["number"], answer.json()["rows"], answer.json()["source"]) == (1, 5, "rows.json")
    again = upload(api, dataset, csv_text(X, y), "same-numbers.csv")
    assert again.status_code == 409
    assert again.json() == {"code": "duplicate_batch", "file": "same-numbers.csv", "batch": 1,
                            "detail": "same-numbers.csv: identical to batch #1 of 'lines' (not added again)"}


def test_same_file_twice_is_detected_and_not_added(api, dataset, upload) -> None:
    text = csv_text(*batch_data(4))
    assert upload(api, dataset, text, "a.csv").status_code == 202
    second = upload(api, dataset, text, "a-again.csv")
    assert second.status_code == 409 and second.json()["batch"] == 1
    assert Batch.objects.filter(dataset=dataset).count() == 1
    assert api.get(f"/api/datasets/{dataset.pk}/").json()["revision"] == 1


@pytest.mark.parametrize(
    ("content", "row", "column", "reason"),
    [
        ("x0,y\n1,2\n", None, None, "missing column(s) 'x1' (expected 'x0', 'x1', 'y')"),
        ("x0,X1,y\n1,2,3\n", None, None, "missing column(s) 'x1'; unknown column(s) 'X1'"),
        ("x0,x1,y\n1,2,3\n4,abc,6\n", 2, "x1", "'abc' is not a number"),
        ("x0,x1,y\n1,2,3\n4,5,inf\n", 2, "y", "'inf' is not a finite number"),
        ("x0,x1,y\n1,2,3\n4,5\n", 2, None, "has 2 values, the header has 3 columns"),
        ("x0,x1,y\n1,,3\n", 1, "x1", "empty value"),
        ("", None, None, "empty file: expected a header line naming the columns x0, x1, y"),
        ("x0,x1,y\n", None, None, "no data rows after the header"),
        (b"x0,x1,y\n1,2,3\n\xff\xfe,1,2\n", 2, None, "not UTF-8 text: byte 0xff at offset 14"),
    ],
)
def test_csv_problems_name_file_row_column_and_reason(api, dataset, upload, content, row, column, reason) -> None:
    answer = upload(api, dataset, content, "bad.csv")
    assert answer.status_code == 400
    body = answer.json()
    assert (body["code"], body["file"], body["row"], body["column"]) == ("invalid_csv", "bad.csv", row, column)
    assert body["reason"].startswith(reason)
    assert body["detail"].startswith("bad.csv")
    _nothing_stored(dataset)


def test_header_field_longer_than_the_csv_modules_limit_is_read_not_a_500(api, dataset, upload) -> None:
    # The csv module's field limit is 131,072 characters; a longer header name used to answer 500.
    long = "n" * 131_073
    answer = upload(api, dataset, f"x0,x1,y,{long}\n1,2,3,note\n4,5,6,note\n", "wide.csv")
    assert answer.status_code == 202 and answer.json()["rows"] == 2
    refused = upload(api, dataset, f"x0,{long}\n1,2\n", "long.csv")
    assert refused.status_code == 400
    body = refused.json()
    assert (body["code"], body["file"], body["row"], body["line"]) == ("invalid_csv", "long.csv", None, 1)
    assert body["reason"].startswith("missing column(s) 'x1', 'y'; unknown column(s) 'nnn")
    assert len(body["detail"]) < 400  # the long name is shortened, not echoed


def test_cr_only_line_ends_are_read_not_a_500(api, dataset, upload) -> None:
    # printf 'x0,x1,y\r1,2,3\r' used to answer 500.
    answer = upload(api, dataset, "x0,x1,y\r1,2,3\r4,5,7\r", "mac.csv")
    assert answer.status_code == 202 and answer.json()["rows"] == 2
    refused = upload(api, dataset, "x0,x1,y\r1,2,3\r\r4,x,6\r", "bad-mac.csv")
    assert refused.status_code == 400
    body = refused.json()
    assert (body["code"], body["file"], body["row"], body["line"], body["column"]) == (
        "invalid_csv", "bad-mac.csv", 3, 4, "x1")
    assert body["reason"] == "'x' is not a number"
    assert Batch.objects.filter(dataset=dataset).count() == 1


@pytest.mark.parametrize(
    ("content", "row", "line", "column", "reason"),
    [
        ('x0,x1,y\r\n1,"2,3\r\n', 1, 2, None, "a quoted value is never closed"),
        ('note,x0,x1,y\n"a\nb",1,2,3\n"c",4,5,\n', 2, 4, "y", "empty value"),
        ("\ufeffx0,x1,y\n1,2,3\n\n  \n4,5,6,7\n", 4, 5, None, "has 4 values, the header has 3 columns"),
    ],
)
def test_malformed_csv_is_a_400_naming_row_line_and_column(api, dataset, upload, content, row, line, column,
                                                          reason) -> None:
    answer = upload(api, dataset, content, "odd.csv")
    assert answer.status_code == 400
    body = answer.json()
    assert (body["code"], body["row"], body["line"], body["column"]) == ("invalid_csv", row, line, column)
    assert body["reason"].startswith(reason)
    _nothing_stored(dataset)


@pytest.mark.parametrize(
    ("rows", "row", "column", "reason"),
    [
        ([{"x0": 1, "x1": 2, "y": 3}, {"x0": 1, "y": 3}], 2, "x1", "missing value"),
        ([{"x0": "1", "x1": 2, "y": 3}], 1, "x0", "'1' is not a number"),
        ([{"x0": True, "x1": 2, "y": 3}], 1, "x0", "'True' is not a number"),
        ([{"x0": None, "x1": 2, "y": 3}], 1, "x0", "'None' is not a number"),
        ([{"x0": 10**400, "x1": 2, "y": 3}], 1, "x0", "is not a finite 64-bit float"),
        ([[1, 2, 3]], 1, None, "each row must be an object"),
    ],
)
def test_json_row_problems_name_row_and_column(api, dataset, rows, row, column, reason) -> None:
    answer = api.post(f"/api/datasets/{dataset.pk}/batches/", {"rows": rows}, format="json")
    assert answer.status_code == 400
    body = answer.json()
    assert (body["code"], body["file"], body["row"], body["column"]) == ("invalid_rows", "rows.json", row, column)
    assert reason in body["reason"]
    _nothing_stored(dataset)


@pytest.mark.parametrize("body", [{}, {"rows": []}, {"rows": "x0,x1,y"}])
def test_json_body_without_rows_is_a_field_error(api, dataset, body) -> None:
    answer = api.post(f"/api/datasets/{dataset.pk}/batches/", body, format="json")
    assert answer.status_code == 400 and "rows" in answer.json()["fields"]


def test_multipart_without_a_file_is_a_field_error(api, dataset) -> None:
    answer = api.post(f"/api/datasets/{dataset.pk}/batches/", {"other": "x"}, format="multipart")
    assert answer.status_code == 400 and "file" in answer.json()["fields"]


def test_other_media_types_are_415(api, dataset) -> None:
    answer = api.post(f"/api/datasets/{dataset.pk}/batches/", "x0,x1,y\n1,2,3\n", content_type="text/plain")
    assert answer.status_code == 415 and answer.json()["code"] == "unsupported_media_type"


def _post_csv_body(api, path: str, text: str, name: str | None = None, method: str = "post", **headers: str):
    """Send ``text`` as the request body itself (``text/csv``), named by Content-Disposition when ``name`` is given."""
    if name is not None:
        headers["HTTP_CONTENT_DISPOSITION"] = f'attachment; filename="{name}"'
    return getattr(api, method)(path, text.encode(), content_type="text/csv; charset=utf-8", **headers)


def test_a_csv_body_is_a_batch_like_a_csv_file(api, dataset, upload, django_capture_on_commit_callbacks) -> None:
    X, y = batch_data(3, rows=30)
    path = f"/api/datasets/{dataset.pk}/batches/"
    with django_capture_on_commit_callbacks(execute=True):
        answer = _post_csv_body(api, path, csv_text(X, y), "march.csv")
    assert answer.status_code == 202 and answer["Location"].endswith(f"/api/datasets/{dataset.pk}/batches/1/")
    assert (answer.json()["number"], answer.json()["rows"], answer.json()["source"]) == (1, 30, "march.csv")
    assert _post_csv_body(api, path, csv_text(*batch_data(4, rows=5))).json()["source"] == "upload.csv"
    named = _post_csv_body(api, path, csv_text(*batch_data(6, rows=5)),  # as the dashboard names a file
                           HTTP_CONTENT_DISPOSITION="attachment; filename*=UTF-8''m%C3%A4rz%202024.csv")
    assert named.json()["source"] == "märz 2024.csv"
    # The same numbers as a multipart file are the same batch.
    duplicate = upload(api, dataset, csv_text(X, y), "again.csv")
    assert duplicate.status_code == 409 and duplicate.json()["batch"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        replaced = _post_csv_body(api, path + "1/", csv_text(*batch_data(5, rows=12)), "fixed.csv", method="put")
    assert replaced.status_code in (200, 202)
    assert (replaced.json()["number"], replaced.json()["rows"], replaced.json()["source"]) == (1, 12, "fixed.csv")
    model = api.get(f"/api/datasets/{dataset.pk}/model/", {"mode": "incremental"}).json()
    assert model["rows"] == 22


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty file"),
    ("x0,x1,y\n1,2,3\n4,oops,6\n", "'oops' is not a number"),
    ("x0,y\n1,2\n", "missing column(s) 'x1'"),
])
def test_a_bad_csv_body_is_a_400_naming_its_file_and_stores_nothing(api, dataset, text, problem) -> None:
    answer = _post_csv_body(api, f"/api/datasets/{dataset.pk}/batches/", text, "bad.csv")
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_csv"
    assert answer.json()["file"] == "bad.csv" and problem in answer.json()["reason"]
    _nothing_stored(dataset)


def test_a_csv_body_over_the_limit_is_413_and_stores_nothing(api, dataset, settings) -> None:
    settings.SALSAWEB_MAX_UPLOAD_BYTES = 100
    answer = _post_csv_body(api, f"/api/datasets/{dataset.pk}/batches/", csv_text(*batch_data(5, rows=10)), "big.csv")
    assert answer.status_code == 413 and answer.json()["code"] == "too_large" and answer.json()["limit_bytes"] == 100
    _nothing_stored(dataset)


def test_file_over_the_limit_is_413_and_stores_nothing(api, dataset, upload, settings) -> None:
    settings.SALSAWEB_MAX_UPLOAD_BYTES = 100
    text = csv_text(*batch_data(5, rows=10))
    assert len(text) > 100
    answer = upload(api, dataset, text, "big.csv")
    assert answer.status_code == 413
    assert answer.json() == {"code": "too_large", "file": "big.csv", "limit_bytes": 100,
                             "detail": "big.csv is larger than the upload limit of 100 bytes"}
    _nothing_stored(dataset)
    assert upload(api, dataset, "x0,x1,y\n1,2,3\n", "small.csv").status_code == 202


def test_multipart_body_far_over_the_limit_is_refused_before_reading(api, dataset, upload, settings) -> None:
    settings.SALSAWEB_MAX_UPLOAD_BYTES = 1000
    answer = upload(api, dataset, "x0,x1,y\n" + "1,2,3\n" * 20_000, "huge.csv")
    assert answer.status_code == 413 and answer.json()["limit_bytes"] == 1000
    _nothing_stored(dataset)


def test_json_body_over_the_limit_is_413(api, dataset, settings) -> None:
    settings.SALSAWEB_MAX_UPLOAD_BYTES = 200
    rows = [{"x0": i, "x1": i, "y": i} for i in range(20)]
    answer = api.post(f"/api/datasets/{dataset.pk}/batches/", {"rows": rows}, format="json")
    assert answer.status_code == 413 and answer.json()["code"] == "too_large" and answer.json()["file"] is None
    _nothing_stored(dataset)


def test_values_that_would_overflow_the_statistics_are_refused_at_the_door(api, dataset, upload) -> None:
    answer = upload(api, dataset, "x0,x1,y\n1,2,3\n4,5,1e200\n", "huge.csv")
    assert answer.status_code == 400
    body = answer.json()
    assert (body["code"], body["file"], body["row"], body["line"], body["column"]) == (
        "invalid_csv", "huge.csv", 2, 3, "y")
    assert body["reason"].startswith("1e200 is beyond the limit of ±1e+75")
    assert body["detail"].startswith("huge.csv, row 2 (line 3), column 'y': 1e200")
    rows = api.post(f"/api/datasets/{dataset.pk}/batches/", {"rows": [{"x0": -1e200, "x1": 0, "y": 1}]},
                    format="json")
    assert rows.status_code == 400 and (rows.json()["row"], rows.json()["column"]) == (1, "x0")
    assert "-1e+200 is beyond the limit" in rows.json()["reason"]
    _nothing_stored(dataset)
    assert upload(api, dataset, "x0,x1,y\n1,2,3\n4,5,7\n", "fine.csv").status_code == 202  # later batches train
