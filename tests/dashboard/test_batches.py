"""The dataset page's batch list: number, source, rows, when; delete and replace through the scheduling intake."""
from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from salsaweb.regression import services
from salsaweb.regression.models import Batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="ada", password="secret-pw-1")


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def dataset(user):
    dataset = services.dataset_create(owner=user, name="d", features=["a"], target="b", modes=["incremental"])
    services.batch_create(dataset=dataset, content="a,b\n1,2\n3,5\n", source="first.csv")
    services.batch_create(dataset=dataset, content="a,b\n2,2\n4,9\n5,1\n", source="second.csv")
    return dataset


def _batch_rows(html: str) -> list[list[str]]:
    table = re.search(r'<table class="grid" id="batch-table">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr data-batch[^>]*>(.*?)</tr>", table, re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)][:3]
            for row in rows]


def test_batch_list_is_paged_so_the_page_stays_small_with_many_batches(signed_in, dataset, monkeypatch) -> None:
    from salsaweb.dashboard import views

    monkeypatch.setattr(views, "BATCHES_PER_PAGE", 1)
    first = signed_in.get(f"/dashboard/datasets/{dataset.pk}/").content.decode()
    assert _batch_rows(first) == [["1", "first.csv", "2"]] and "batches 1–1 of 2" in first
    assert 'href="?batches=2#batches"' in first
    second = signed_in.get(f"/dashboard/datasets/{dataset.pk}/", {"batches": 2}).content.decode()
    assert _batch_rows(second) == [["2", "second.csv", "3"]] and 'href="?batches=1#batches"' in second


def test_dataset_page_lists_batches_with_delete_and_replace_forms(signed_in, dataset) -> None:
    html = signed_in.get(f"/dashboard/datasets/{dataset.pk}/").content.decode()
    assert _batch_rows(html) == [["1", "first.csv", "2"], ["2", "second.csv", "3"]]
    assert f'action="/dashboard/datasets/{dataset.pk}/batches/2/delete/"' in html
    assert f'action="/dashboard/datasets/{dataset.pk}/batches/2/replace/"' in html
    assert 'enctype="multipart/form-data"' in html and 'type="file" name="file"' in html


def test_delete_button_deletes_the_batch(signed_in, dataset, django_capture_on_commit_callbacks) -> None:
    assert signed_in.get(f"/dashboard/datasets/{dataset.pk}/batches/1/delete/").status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        answer = signed_in.post(f"/dashboard/datasets/{dataset.pk}/batches/1/delete/")
    assert answer.status_code == 302 and answer["Location"] == f"/dashboard/datasets/{dataset.pk}/"
    page = signed_in.get(answer["Location"]).content.decode()
    assert "Deleted batch #1" in page and _batch_rows(page) == [["2", "second.csv", "3"]]
    assert signed_in.post(f"/dashboard/datasets/{dataset.pk}/batches/1/delete/").status_code == 404
    assert signed_in.post(f"/dashboard/datasets/{dataset.pk}/batches/{10**17}/delete/").status_code == 404
    dataset.refresh_from_db()
    assert dataset.revision == 3 and dataset.runs.get().revision == 3


def test_replace_form_replaces_rows_or_says_why_not(signed_in, dataset, django_capture_on_commit_callbacks) -> None:
    url = f"/dashboard/datasets/{dataset.pk}/batches/2/replace/"
    with django_capture_on_commit_callbacks(execute=True):
        answer = signed_in.post(url, {"file": SimpleUploadedFile("fixed.csv", b"a,b\n7,1\n8,2\n9,4\n10,3\n")})
    assert answer.status_code == 302
    page = signed_in.get(answer["Location"]).content.decode()
    assert "Batch #2 replaced" in page and _batch_rows(page)[1] == ["2", "fixed.csv", "4"]
    bad = signed_in.post(url, {"file": SimpleUploadedFile("bad.csv", b"a,b\n1,x\n")}, follow=True).content.decode()
    assert "Batch #2 not replaced: bad.csv, row 1 (line 2), column &#x27;b&#x27;: &#x27;x&#x27; is not a number" in bad
    assert Batch.objects.get(dataset=dataset, number=2).source == "fixed.csv"
    assert "choose a CSV file" in signed_in.post(url, {}, follow=True).content.decode()
    assert signed_in.post(f"/dashboard/datasets/{dataset.pk}/batches/5/replace/",
                          {"file": SimpleUploadedFile("x.csv", b"a,b\n1,1\n")}).status_code == 404


def test_other_users_batches_cannot_be_changed(client, dataset, django_user_model) -> None:
    client.force_login(django_user_model.objects.create_user(username="bob", password="pw"))
    assert client.post(f"/dashboard/datasets/{dataset.pk}/batches/1/delete/").status_code == 404
    assert client.post(f"/dashboard/datasets/{dataset.pk}/batches/1/replace/",
                       {"file": SimpleUploadedFile("x.csv", b"a,b\n1,1\n")}).status_code == 404
    assert Batch.objects.filter(dataset=dataset, deleted_at__isnull=True).count() == 2


def _settings(**overrides):
    body = {"modes": ["incremental"], "learning_rate": "", "momentum": "", "max_iterations": 9,
            "tolerance": 0.0, "standardize": "on", "window": 1, "l2": 0.5}
    body.update(overrides)
    return body


def test_settings_form_shows_and_changes_the_settings(signed_in, dataset, django_capture_on_commit_callbacks) -> None:
    html = signed_in.get(f"/dashboard/datasets/{dataset.pk}/").content.decode()
    assert f'action="/dashboard/datasets/{dataset.pk}/settings/"' in html
    assert re.search(r'name="max_iterations" value="100"', html) and 'name="l2" value="0.0"' in html
    with django_capture_on_commit_callbacks(execute=True):
        answer = signed_in.post(f"/dashboard/datasets/{dataset.pk}/settings/", _settings())
    assert answer.status_code == 302
    dataset.refresh_from_db()
    assert (dataset.max_iterations, dataset.window, dataset.l2, dataset.revision) == (9, 1, 0.5, 3)
    assert dataset.runs.get(revision=3).iterations <= 9
    assert "Settings saved; retraining queued." in signed_in.get(answer["Location"]).content.decode()


def test_settings_form_errors_name_the_field_and_change_nothing(signed_in, dataset) -> None:
    answer = signed_in.post(f"/dashboard/datasets/{dataset.pk}/settings/", _settings(momentum=1.5, l2=-1))
    assert answer.status_code == 400
    html = answer.content.decode()
    assert "Ensure this value is greater than or equal to 0.0." in html  # l2: the form's own check
    again = signed_in.post(f"/dashboard/datasets/{dataset.pk}/settings/", _settings(momentum=1.5))
    assert again.status_code == 400 and "must be in [0, 1), or empty for auto" in again.content.decode()
    dataset.refresh_from_db()
    assert (dataset.momentum, dataset.l2, dataset.revision) == (None, 0.0, 2)


def test_create_form_takes_window_and_l2(signed_in, user) -> None:
    answer = signed_in.post("/dashboard/", {"name": "windowed", "features": "a", "target": "b", "modes": ["naive"],
                                            "max_iterations": 10, "tolerance": 0, "window": 3, "l2": 0.25})
    assert answer.status_code == 302
    dataset = user.datasets.get(name="windowed")
    assert (dataset.window, dataset.l2) == (3, 0.25)
    plain = signed_in.post("/dashboard/", {"name": "plain", "features": "a", "target": "b", "modes": ["naive"],
                                           "max_iterations": 10, "tolerance": 0})
    assert plain.status_code == 302 and (user.datasets.get(name="plain").window, user.datasets.get(name="plain").l2) == (
        None, 0.0)
