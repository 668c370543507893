"""API test fixtures: users with tokens, datasets, CSV text and an upload helper that runs training."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from django.apps import apps
from django.core.cache import cache
from django.db import connection
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.test import APIClient

from salsaweb.regression import services
from salsaweb.regression.models import Batch, Dataset

FEATURES = ["x0", "x1"]
TARGET = "y"


def csv_text(X: np.ndarray, y: np.ndarray, names: list[str] | None = None) -> str:
    """Rows as CSV text with a header (feature names, then the target)."""
    header = ",".join([*(names or FEATURES), TARGET])
    return header + "\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in np.column_stack([X, y])) + "\n"


def batch_data(seed: int, rows: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """A batch of y = 2 x0 - x1 + 3 + noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, (rows, 2)) * [1.0, 3.0] + [1.0, -2.0]
    return X, X @ [2.0, -1.0] + 3.0 + rng.normal(0.0, 0.1, rows)


def stored_state() -> dict[str, Any]:
    """Row counts of every table a request could write (datasets, batches, records, memo store, tokens), and each
    batch's content: equal before and after a refused request when it left no trace (one query for the counts)."""
    tables = [model._meta.db_table for label in ("regression", "runtime", "authtoken")
              for model in apps.get_app_config(label).get_models() if not model._meta.proxy]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {connection.ops.quote_name(table)})"
                                             for table in tables))
        state: dict[str, Any] = dict(zip(tables, cursor.fetchone()))
    state["batches"] = list(Batch.objects.order_by("pk").values_list("pk", "content_hash", "revision", "deleted_at"))
    return state


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> Iterator[None]:
    """Throttle counts live in the cache: start every test from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(django_user_model: Any) -> Any:
    """A plain user."""
    return django_user_model.objects.create_user(username="ada", password="secret-pw-1")


@pytest.fixture
def other(django_user_model: Any) -> Any:
    """Another plain user."""
    return django_user_model.objects.create_user(username="bob", password="secret-pw-2")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    """A staff user (sees every dataset)."""
    return django_user_model.objects.create_user(username="carol", password="secret-pw-3", is_staff=True)


def token_client(user: Any) -> APIClient:
    """A client sending ``Authorization: Token <token>`` for ``user``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def api(user: Any) -> APIClient:
    """The plain user's token client."""
    return token_client(user)


@pytest.fixture
def dataset(user: Any) -> Dataset:
    """The user's dataset with features x0, x1 and target y, incremental and naive modes."""
    return services.dataset_create(owner=user, name="lines", features=FEATURES, target=TARGET, max_iterations=50)


@pytest.fixture
def upload(django_capture_on_commit_callbacks: Any) -> Callable[..., Response]:
    """POST a CSV file as a batch; the training tasks queued on commit run before it returns."""

    def post(client: APIClient, dataset: Dataset, text: str | bytes, name: str = "batch.csv") -> Response:
        data = text.encode() if isinstance(text, str) else text
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/api/datasets/{dataset.pk}/batches/",
                               {"file": SimpleUploadedFile(name, data, content_type="text/csv")}, format="multipart")

    return post


@pytest.fixture
def trained(api: APIClient, dataset: Dataset, upload: Callable[..., Response]) -> Dataset:
    """The dataset with two batches, both modes trained."""
    for seed in (1, 2):
        assert upload(api, dataset, csv_text(*batch_data(seed)), f"b{seed}.csv").status_code == 202
    return dataset
