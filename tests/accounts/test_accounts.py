"""Accounts: sign-up that SALSAWEB_SIGNUP turns on and off, the API token page and its API, the favicon."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.contrib.staticfiles import finders
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def user(django_user_model):
    """A plain user."""
    return django_user_model.objects.create_user(username="ada", password="secret-pw-1")


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_sign_up_creates_an_account_and_signs_it_in_when_on(client, settings, django_user_model) -> None:
    settings.SALSAWEB_SIGNUP = True
    assert b'href="/accounts/signup/"' in client.get("/accounts/login/").content
    answer = client.post("/accounts/signup/", {"username": "newcomer", "password1": "a-long-pass-phrase",
                                                "password2": "a-long-pass-phrase"})
    assert answer.status_code == 302 and answer["Location"] == "/dashboard/"
    user = authenticate(username="newcomer", password="a-long-pass-phrase")
    assert user is not None and not user.is_staff and not user.is_superuser
    assert client.get("/dashboard/").status_code == 200  # signed in
    assert client.get("/accounts/signup/")["Location"] == "/dashboard/"


def test_sign_up_refuses_a_taken_name_and_a_weak_password_naming_each(client, settings, user) -> None:
    settings.SALSAWEB_SIGNUP = True
    taken = client.post("/accounts/signup/", {"username": "ADA", "password1": "a-long-pass-phrase",
                                               "password2": "a-long-pass-phrase"})
    assert taken.status_code == 400 and b"A user with that username already exists." in taken.content
    weak = client.post("/accounts/signup/", {"username": "eve", "password1": "123", "password2": "123"})
    assert weak.status_code == 400 and b"This password is too short." in weak.content
    assert not type(user).objects.filter(username__in=["ADA", "eve"]).exists()


def test_sign_up_is_not_there_when_off(client, settings) -> None:
    settings.SALSAWEB_SIGNUP = False
    assert client.get("/accounts/signup/").status_code == 404
    assert client.post("/accounts/signup/", {"username": "x", "password1": "a-long-pass-phrase",
                                              "password2": "a-long-pass-phrase"}).status_code == 404
    assert b"/accounts/signup/" not in client.get("/accounts/login/").content


@pytest.mark.parametrize(("module", "environment", "expected"), [
    ("salsaweb.settings.local", {}, True),
    ("salsaweb.settings.local", {"SALSAWEB_SIGNUP": "false"}, False),
    ("salsaweb.settings.production", {}, False),
    ("salsaweb.settings.production", {"SALSAWEB_SIGNUP": "true"}, True),
])
def test_sign_up_is_on_locally_and_off_in_production_unless_the_environment_says(module, environment, expected):
    env = {key: value for key, value in os.environ.items() if key != "SALSAWEB_SIGNUP"}
    env.update(environment, DJANGO_SECRET_KEY="x" * 50, DJANGO_SETTINGS_MODULE=module)
    program = f"import {module} as s; print(s.SALSAWEB_SIGNUP)"
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == str(expected), done.stderr


def test_the_token_page_shows_and_resets_the_users_token(client, user) -> None:
    client.force_login(user)
    assert b"You have no API token yet." in client.get("/accounts/token/").content
    created = client.post("/accounts/token/")
    assert created.status_code == 302 and created["Location"] == "/accounts/token/"
    first = Token.objects.get(user=user).key
    assert first.encode() in client.get("/accounts/token/").content
    client.post("/accounts/token/")
    second = Token.objects.get(user=user).key
    page = client.get("/accounts/token/").content
    assert second != first and second.encode() in page and first.encode() not in page
    assert b'href="/accounts/token/"' in page  # in the navigation


def test_the_token_page_asks_anonymous_visitors_to_sign_in(client) -> None:
    assert client.get("/accounts/token/")["Location"].startswith("/accounts/login/?next=")
    assert client.post("/accounts/token/")["Location"].startswith("/accounts/login/?next=")
    assert not Token.objects.exists()


def test_the_api_reads_and_replaces_the_users_token(user) -> None:
    api = _token_client(user)
    old = Token.objects.get(user=user)
    read = api.get("/api/account/token/")
    assert read.status_code == 200 and read.json()["token"] == old.key and read.json()["created"]
    replaced = api.post("/api/account/token/")
    assert replaced.status_code == 200
    new = replaced.json()["token"]
    assert new != old.key and Token.objects.get(user=user).key == new
    assert api.get("/api/account/token/").status_code == 401  # the old token stopped working
    api.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert api.get("/api/account/token/").json()["token"] == new


def test_a_session_user_without_a_token_reads_null(client, user) -> None:
    client.force_login(user)
    assert client.get("/api/account/token/").json() == {"token": None, "created": None}
    assert client.get("/api/account/token/", {"x": 1}).status_code == 400


def test_the_favicon_is_served_locally(client) -> None:
    page = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/dashboard/favicon.svg" type="image/svg+xml">' in page
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 302 and redirect["Location"] == "/static/dashboard/favicon.svg"
    icon = Path(finders.find("dashboard/favicon.svg")).read_text()
    assert icon.startswith("<svg") and "http://www.w3.org/2000/svg" in icon
