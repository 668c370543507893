"""first_run (an account whose password is printed once, with sample data) and seed_samples."""
from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from salsaweb.dashboard.samples import HOUSE_BATCHES, HOUSE_ROWS, HOUSES_NAME, SEED_NAME, house_batches
from salsaweb.regression import selectors
from salsaweb.regression.demo import seed_batches
from salsaweb.regression.models import Batch, BatchRun, Dataset

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_first_run_creates_an_admin_prints_its_password_once_and_seeds_samples() -> None:
    out = _run("first_run")
    password = re.search(r"password:\s+(\S+)", out).group(1)
    user = authenticate(username="salsa", password=password)
    assert user is not None and user.is_superuser
    assert "http://127.0.0.1:8000/accounts/login/" in out
    seed = Dataset.objects.get(owner=user, name=SEED_NAME)
    houses = Dataset.objects.get(owner=user, name=HOUSES_NAME)
    assert (seed.batches.count(), houses.batches.count()) == (10, HOUSE_BATCHES)
    assert BatchRun.objects.filter(dataset=seed).count() == 10 * 3  # one record per batch and mode
    model = selectors.model_get(dataset=seed, mode="incremental")
    assert model["up_to_date"] and abs(model["weights"]["x"] - 1.0) < 0.05
    again = _run("first_run")
    assert password not in again and "password:  " not in again and "already" in again
    assert get_user_model().objects.count() == 1 and Dataset.objects.count() == 2


def test_first_run_does_nothing_once_users_exist(django_user_model) -> None:
    django_user_model.objects.create_user(username="someone", password="pw")
    out = _run("first_run")
    assert "password:  " not in out and not Dataset.objects.exists()


def test_seed_samples_for_a_user_skips_what_they_have(django_user_model) -> None:
    user = django_user_model.objects.create_user(username="ada", password="pw")
    assert "added" in _run("seed_samples", "--owner", "ada")
    assert "already has the sample datasets" in _run("seed_samples", "--owner", "ada")
    assert Batch.objects.filter(dataset__owner=user).count() == 10 + HOUSE_BATCHES
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        _run("seed_samples", "--owner", "nobody")


def test_sample_data_is_the_seed_demo_and_a_multi_feature_set() -> None:
    first = seed_batches()[0].splitlines()
    assert first[0] == "x,y" and len(first) == 101 and all(row.startswith("1.0,") for row in first[1:])
    houses = house_batches()[0].splitlines()
    assert houses[0] == "id,size_m2,rooms,age_years,distance_km,price_k" and len(houses) == HOUSE_ROWS + 1
