"""Tests of the project skeleton: settings from the environment, the health probe, pages and deploy checks."""

from __future__ import annotations

import os
import re
import runpy
import sqlite3
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.management.utils import get_random_secret_key
from django.db import OperationalError
from django.db.utils import ConnectionHandler
from django.test import Client

from salsaweb.env import database_config, env_bool, env_list

BASE_DIR = Path(__file__).resolve().parent.parent
BASE_SETTINGS = BASE_DIR / "salsaweb" / "settings" / "base.py"


def base_settings_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, object]:
    """Execute salsaweb.settings.base afresh under the given environment and return its namespace."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(BASE_SETTINGS))


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a child process with exactly the given environment."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def production_env(**extra: str) -> dict[str, str]:
    """The current environment switched to production settings, minus any inherited secret key."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env["DJANGO_SETTINGS_MODULE"] = "salsaweb.settings.production"
    env.update(extra)
    return env


def test_sqlite_url_with_absolute_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db = tmp_path / "memo.sqlite3"
    ns = base_settings_with(monkeypatch, DATABASE_URL=f"sqlite:///{db}", CONN_MAX_AGE="30")
    default = ns["DATABASES"]["default"]
    assert default["ENGINE"] == "django.db.backends.sqlite3"
    assert default["NAME"] == str(db)
    assert default["CONN_MAX_AGE"] == 30
    assert "journal_mode=WAL" in default["OPTIONS"]["init_command"]
    assert default["OPTIONS"]["timeout"] == 20


def test_postgres_url(monkeypatch: pytest.MonkeyPatch) -> None:
    ns = base_settings_with(monkeypatch, DATABASE_URL="postgres://alice:pw@db.internal:6543/memo")
    default = ns["DATABASES"]["default"]
    assert default["ENGINE"] == "django.db.backends.postgresql"
    assert (default["NAME"], default["USER"], default["HOST"], default["PORT"]) == (
        "memo",
        "alice",
        "db.internal",
        6543,
    )
    assert "init_command" not in default.get("OPTIONS", {})


def test_default_database_is_sqlite_in_project_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    ns = base_settings_with(monkeypatch)
    assert ns["DATABASES"]["default"]["NAME"] == str(BASE_DIR / "db.sqlite3")


@pytest.mark.django_db  # lifts pytest-django's connection block; this test opens its own database
def test_sqlite_connection_uses_wal_and_busy_timeout(tmp_path: Path) -> None:
    config = database_config(f"sqlite:///{tmp_path / 'wal.sqlite3'}", conn_max_age=0)
    handler = ConnectionHandler({"default": config})
    try:
        with handler["default"].cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone()[0] == 20_000
    finally:
        handler.close_all()
    with sqlite3.connect(tmp_path / "wal.sqlite3") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_env_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAG", "Yes")
    monkeypatch.setenv("HOSTS", " a.example , b.example,, ")
    assert env_bool("FLAG", False) is True
    assert env_bool("UNSET_FLAG_FOR_TEST", True) is True
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ValueError, match="FLAG"):
        env_bool("FLAG", False)


def test_test_settings_in_use() -> None:
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert settings.TEMPLATES[0]["DIRS"] == [BASE_DIR / "templates"]


@pytest.mark.django_db
def test_healthz_reports_database_ok(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True}


@pytest.mark.django_db
def test_healthz_reports_database_down(client: Client) -> None:
    with mock.patch("salsaweb.views.connection.cursor", side_effect=OperationalError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": False}


def test_healthz_rejects_post(client: Client) -> None:
    assert client.post("/healthz").status_code == 405


def test_home_page_renders(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Salsaweb" in body
    assert "incremental" in body
    assert 'href="/healthz"' in body
    assert "https://" not in body  # no CDN or other external assets


@pytest.mark.slow
def test_production_refuses_to_start_without_secret_key() -> None:
    result = manage("check", env=production_env(DJANGO_ALLOWED_HOSTS="example.com"))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.slow
def test_production_passes_deploy_check() -> None:
    env = production_env(
        DJANGO_SECRET_KEY=get_random_secret_key(), DJANGO_ALLOWED_HOSTS="example.com"
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


SERVE_STATIC = """
from django.contrib.staticfiles.storage import staticfiles_storage
from django.test import Client
url = staticfiles_storage.url("vendor/plotly.min.js")
response = Client().get(url, secure=True, HTTP_HOST="example.com", HTTP_ACCEPT_ENCODING="gzip")
print(url, response.status_code, response.get("Content-Encoding"), response.get("Cache-Control"), sep="|")
"""


@pytest.mark.slow
def test_production_serves_collected_static_files_compressed(tmp_path) -> None:
    env = production_env(
        DJANGO_SECRET_KEY=get_random_secret_key(), DJANGO_ALLOWED_HOSTS="example.com", DJANGO_STATIC_ROOT=str(tmp_path)
    )
    collected = manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr
    served = manage("shell", "-c", SERVE_STATIC, env=env)
    assert served.returncode == 0, served.stderr
    url, status, encoding, cache = served.stdout.strip().splitlines()[-1].split("|")
    assert re.fullmatch(r"/static/vendor/plotly\.min\.[0-9a-f]{12}\.js", url)
    assert (status, encoding) == ("200", "gzip")
    assert "max-age=315360000" in cache
