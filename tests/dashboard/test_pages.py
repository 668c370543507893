"""Dashboard pages: sign-in, the dataset list and create form, the dataset page, deletion; plotly served locally."""
from __future__ import annotations

import json
import re

import pytest
from django.contrib.staticfiles import finders

from salsaweb.dashboard.staticfiles import PLOTLY_FILE
from salsaweb.regression import services
from salsaweb.regression.models import Dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="ada", password="secret-pw-1")


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_pages_ask_anonymous_visitors_to_sign_in(client, user) -> None:
    dataset = services.dataset_create(owner=user, name="d", features=["a"], target="b")
    for url in ("/dashboard/", f"/dashboard/datasets/{dataset.pk}/"):
        answer = client.get(url)
        assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/?next=")
    signed = client.post("/accounts/login/", {"username": "ada", "password": "secret-pw-1", "next": "/dashboard/"})
    assert signed.status_code == 302 and signed["Location"] == "/dashboard/"
    refused = client.post("/accounts/login/", {"username": "ada", "password": "wrong"})
    assert refused.status_code == 200 and b"Please enter a correct username and password" in refused.content


def test_list_shows_own_datasets_with_size_revision_and_state(signed_in, user, django_user_model) -> None:
    mine = services.dataset_create(owner=user, name="mine", features=["a"], target="b")
    services.batch_create(dataset=mine, content="a,b\n1,2\n3,5\n")
    other = django_user_model.objects.create_user(username="bob", password="pw")
    services.dataset_create(owner=other, name="theirs", features=["a"], target="b")
    html = signed_in.get("/dashboard/").content.decode()
    assert "mine" in html and "theirs" not in html
    row = re.search(r"<tr>\s*<td><a[^>]*>mine</a></td>(.*?)</tr>", html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells == ["a → b", "incremental, naive", "1", "2", "queued"]


def test_create_form_makes_a_dataset_and_reports_field_errors(signed_in, user) -> None:
    answer = signed_in.post("/dashboard/", {"name": "houses", "features": "size, rooms", "target": "price",
                                            "modes": ["incremental", "delta"], "max_iterations": 50,
                                            "tolerance": 1e-6, "standardize": "on"})
    dataset = Dataset.objects.get(owner=user, name="houses")
    assert answer.status_code == 302 and answer["Location"] == f"/dashboard/datasets/{dataset.pk}/"
    assert (dataset.features, dataset.target, dataset.modes) == (["size", "rooms"], "price", ["incremental", "delta"])
    again = signed_in.post("/dashboard/", {"name": "houses", "features": "price", "target": "price",
                                           "modes": ["naive"], "max_iterations": 50, "tolerance": 0})
    assert again.status_code == 400
    html = again.content.decode()
    assert "you already have a dataset named &#x27;houses&#x27;" in html
    assert "cannot also be a feature" in html
    assert Dataset.objects.count() == 1


def test_dataset_page_carries_its_api_endpoints_and_local_scripts_only(signed_in, user) -> None:
    dataset = services.dataset_create(owner=user, name="d", features=["x1", "x2"], target="y")
    html = signed_in.get(f"/dashboard/datasets/{dataset.pk}/").content.decode()
    config = json.loads(re.search(r'<script id="dashboard-config" type="application/json">(.*?)</script>',
                                  html, re.S).group(1))
    assert config["features"] == ["x1", "x2"] and config["modes"] == ["incremental", "naive"]
    assert config["api"]["batches"] == f"/api/datasets/{dataset.pk}/batches/"
    assert config["api"]["training"] == f"/api/datasets/{dataset.pk}/training/"
    assert config["maxUploadBytes"] == 10 * 1024 * 1024
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert scripts == ["/static/dashboard/dashboard.js", "/static/dashboard/engine.js", "/static/vendor/plotly.min.js"]
    for control in ('id="file-input"', 'id="dropzone"', 'id="predict-form"', 'id="chart-convergence"',
                    'id="chart-timing"', 'id="chart-memos"', 'data-chart="convergence"'):
        assert control in html
    assert f'data-graph="/api/datasets/{dataset.pk}/graph/"' in html and 'id="engine-work-table"' in html


def test_plotly_comes_from_the_installed_package() -> None:
    assert finders.find("vendor/plotly.min.js") == str(PLOTLY_FILE)
    assert PLOTLY_FILE.stat().st_size > 1_000_000
    assert PLOTLY_FILE.read_text(errors="replace")[:200].startswith("/**")
    assert finders.find("vendor/plotly.min.js", find_all=True) == [str(PLOTLY_FILE)]


def test_other_users_dataset_pages_are_404(signed_in, django_user_model) -> None:
    other = django_user_model.objects.create_user(username="bob", password="pw")
    theirs = services.dataset_create(owner=other, name="theirs", features=["a"], target="b")
    assert signed_in.get(f"/dashboard/datasets/{theirs.pk}/").status_code == 404
    assert signed_in.post(f"/dashboard/datasets/{theirs.pk}/delete/").status_code == 404
    assert Dataset.objects.filter(pk=theirs.pk).exists()


def test_delete_button_deletes_through_the_service(signed_in, user) -> None:
    dataset = services.dataset_create(owner=user, name="gone", features=["a"], target="b")
    assert signed_in.get(f"/dashboard/datasets/{dataset.pk}/delete/").status_code == 405
    answer = signed_in.post(f"/dashboard/datasets/{dataset.pk}/delete/")
    assert answer.status_code == 302 and answer["Location"] == "/dashboard/"
    assert not Dataset.objects.exists()
