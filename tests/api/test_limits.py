"""Rate and sign-in limits: the shared cache, client addresses behind proxies, failed sign-ins per username, address."""
from __future__ import annotations

import importlib
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import RequestFactory, override_settings
from rest_framework.test import APIClient

from salsaweb import services
from salsaweb.env import cache_config

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"


def sign_in(username: str, password: str, address: str = "10.0.0.1", **meta: str) -> Any:
    """POST the token endpoint as a client at ``address``, with these extra META entries (HTTP_... headers)."""
    return APIClient(REMOTE_ADDR=address).post(TOKEN, {"username": username, "password": password}, format="json",
                                               **meta)


def rates(settings: Any, writes: str, proxies: int = 0) -> Any:
    """override_settings with this write rate and trusted proxy count."""
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"writes": writes},
                                             "NUM_PROXIES": proxies})


def test_default_cache_is_the_database_table_every_process_shares(settings) -> None:
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert "salsaweb_cache" in connection.introspection.table_names()


@pytest.mark.parametrize(
    ("url", "backend", "location"),
    [("redis://cache.internal:6379/1", "redis.RedisCache", "redis://cache.internal:6379/1"),
     ("rediss://u:p@cache:6380/0", "redis.RedisCache", "rediss://u:p@cache:6380/0"),
     ("db://", "db.DatabaseCache", "salsaweb_cache"), ("db://limits", "db.DatabaseCache", "limits"),
     ("file:///var/cache/salsaweb", "filebased.FileBasedCache", "/var/cache/salsaweb"),
     ("locmem://", "locmem.LocMemCache", "")],
)
def test_cache_url_names_the_backend(url, backend, location) -> None:
    config = cache_config(url, key_prefix="p", timeout=600)
    assert {k: config[k] for k in ("BACKEND", "LOCATION", "KEY_PREFIX", "TIMEOUT")} == {
        "BACKEND": f"django.core.cache.backends.{backend}", "LOCATION": location, "KEY_PREFIX": "p", "TIMEOUT": 600}
    assert config.get("OPTIONS", {}).get("MAX_ENTRIES") == (100_000 if url.startswith(("db:", "file:")) else None)


@pytest.mark.parametrize("url", ["memcached://x:11211", "redis", "file://relative/dir"])
def test_unknown_cache_url_is_refused(url) -> None:
    with pytest.raises(ValueError, match="SALSAWEB_CACHE_URL"):
        cache_config(url, key_prefix="p")


def test_migration_creates_the_database_cache_table(settings) -> None:
    migration = importlib.import_module("salsaweb.api.migrations.0001_cache_table")
    probe = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "salsaweb_cache_probe"}}
    with override_settings(CACHES=probe):
        migration.create_cache_tables(None, SimpleNamespace(connection=connection))
    assert "salsaweb_cache_probe" in connection.introspection.table_names()


def test_production_keeps_connections_60_s_with_health_checks(monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_SECRET_KEY", "x" * 60)
    monkeypatch.delenv("CONN_MAX_AGE", raising=False)
    monkeypatch.delitem(sys.modules, "salsaweb.settings.production", raising=False)
    try:
        production = importlib.import_module("salsaweb.settings.production")
    finally:
        sys.modules.pop("salsaweb.settings.production", None)
    default = production.DATABASES["default"]
    assert (default["CONN_MAX_AGE"], default["CONN_HEALTH_CHECKS"]) == (60, True)
    base = importlib.import_module("salsaweb.settings.base")
    assert base.DATABASES["default"]["CONN_MAX_AGE"] == 0  # local and test settings are unchanged


@pytest.mark.parametrize(
    ("proxies", "forwarded", "address"),
    [(0, "1.1.1.1", "10.0.0.9"), (1, None, "10.0.0.9"), (1, "6.6.6.6, 2.2.2.2", "2.2.2.2"),
     (2, "6.6.6.6, 3.3.3.3, 2.2.2.2", "3.3.3.3"), (3, "4.4.4.4", "4.4.4.4")],
)
def test_client_address_trusts_only_the_configured_proxies(settings, proxies, forwarded, address) -> None:
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", **headers)
    with rates(settings, "120/min", proxies):
        assert services.client_address(request) == address


def test_forged_forwarded_for_does_not_escape_the_rate_limit(user, settings) -> None:
    with rates(settings, "2/min"):
        codes = [sign_in("ada", f"guess{i}", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code for i in range(4)]
    assert codes == [401, 401, 429, 429]


def test_behind_one_proxy_the_address_it_saw_is_limited(user, settings) -> None:
    with rates(settings, "2/min", proxies=1):
        same = [sign_in("ada", f"g{i}", "10.9.9.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 198.51.100.7").status_code
                for i in range(3)]
        other = sign_in("ada", "g", "10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.8").status_code
    assert (same, other) == ([401, 401, 429], 401)


def test_failed_sign_ins_lock_the_username_from_every_address(user, other, settings) -> None:
    settings.SALSAWEB_LOGIN_FAILURES_PER_USERNAME = 3
    assert [sign_in("ada", "wrong", f"10.1.0.{i}").status_code for i in range(3)] == [401, 401, 401]
    locked = sign_in("ada", "secret-pw-1", "10.1.0.99")
    assert locked.status_code == 429
    body = locked.json()
    assert body["code"] == "throttled" and "failed sign-ins" in body["detail"]
    assert 0 < body["wait"] <= settings.SALSAWEB_LOGIN_WINDOW_SECONDS
    assert 0 < int(locked["Retry-After"]) <= settings.SALSAWEB_LOGIN_WINDOW_SECONDS
    assert sign_in("bob", "secret-pw-2", "10.1.0.99").status_code == 200


def test_failed_sign_ins_lock_the_address_for_every_username(user, other, settings) -> None:
    settings.SALSAWEB_LOGIN_FAILURES_PER_ADDRESS = 3
    assert [sign_in(f"user{i}", "wrong", "10.2.0.1").status_code for i in range(3)] == [401, 401, 401]
    assert sign_in("ada", "secret-pw-1", "10.2.0.1").status_code == 429
    assert sign_in("ada", "secret-pw-1", "10.2.0.2").status_code == 200


def test_successful_sign_ins_are_not_counted(user, settings) -> None:
    settings.SALSAWEB_LOGIN_FAILURES_PER_USERNAME = 2
    assert [sign_in("ada", "secret-pw-1").status_code for _ in range(5)] == [200] * 5


def test_the_lock_ends_with_its_window(user, settings, monkeypatch) -> None:
    settings.SALSAWEB_LOGIN_FAILURES_PER_USERNAME, settings.SALSAWEB_LOGIN_WINDOW_SECONDS = 2, 60
    now = [6000.0 * 60 + 30]  # half-way through a window
    monkeypatch.setattr(services, "time", SimpleNamespace(time=lambda: now[0]))
    assert [sign_in("ada", "wrong").status_code for _ in range(2)] == [401, 401]
    locked = sign_in("ada", "secret-pw-1")
    assert locked.status_code == 429 and locked["Retry-After"] == "30"
    now[0] += 30
    assert sign_in("ada", "secret-pw-1").status_code == 200


def test_dashboard_sign_in_is_locked_with_429_and_retry_after(client, user, settings) -> None:
    settings.SALSAWEB_LOGIN_FAILURES_PER_USERNAME = 2
    for _ in range(2):
        failed = client.post("/accounts/login/", {"username": "ada", "password": "wrong"})
        assert failed.status_code == 200 and "_auth_user_id" not in client.session
    locked = client.post("/accounts/login/", {"username": "ada", "password": "secret-pw-1"})
    assert locked.status_code == 429 and 0 < int(locked["Retry-After"]) <= settings.SALSAWEB_LOGIN_WINDOW_SECONDS
    assert "Too many failed sign-ins" in locked.content.decode() and "_auth_user_id" not in client.session
    assert sign_in("ada", "secret-pw-1").status_code == 429  # the API shares the count


def test_admin_sign_in_is_refused_while_locked(client, django_user_model, settings) -> None:
    django_user_model.objects.create_superuser(username="root", password="secret-pw-9")
    settings.SALSAWEB_LOGIN_FAILURES_PER_USERNAME = 2
    assert [sign_in("root", "wrong").status_code for _ in range(2)] == [401, 401]
    client.post("/admin/login/", {"username": "root", "password": "secret-pw-9", "next": "/admin/"})
    assert "_auth_user_id" not in client.session


def test_an_overlong_forwarded_address_is_counted_not_a_500(user, settings) -> None:
    settings.SALSAWEB_LOGIN_FAILURES_PER_ADDRESS = 1
    with rates(settings, "120/min", proxies=1):
        assert sign_in("ada", "wrong", HTTP_X_FORWARDED_FOR="9" * 400).status_code == 401
        assert sign_in("bob", "wrong", HTTP_X_FORWARDED_FOR="9" * 400).status_code == 429


def test_counts_live_in_the_configured_cache(user, settings) -> None:
    settings.SALSAWEB_LOGIN_FAILURES_PER_USERNAME = 1
    sign_in("ada", "wrong")
    caches["default"].clear()
    assert sign_in("ada", "secret-pw-1").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_are_all_counted_on_the_database_cache(settings) -> None:
    """Failed sign-ins at once from several threads (as from several processes) each count: the database cache's
    read-then-write increments are serialized, so none is lost."""
    import threading

    from django.core.cache.backends.db import DatabaseCache
    from django.db import connections

    assert isinstance(caches["default"], DatabaseCache)
    settings.SALSAWEB_LOGIN_FAILURES_PER_USERNAME = settings.SALSAWEB_LOGIN_FAILURES_PER_ADDRESS = 10_000
    threads, each, start = 6, 15, threading.Barrier(6)
    errors: list[BaseException] = []

    def guess() -> None:
        try:
            start.wait()
            for _ in range(each):
                services.login_failure_record(username="target", address="10.9.9.9")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=guess) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    window = settings.SALSAWEB_LOGIN_WINDOW_SECONDS
    counts = caches["default"].get_many([key for key, _ in services._keys("target", "10.9.9.9", window)])
    assert sorted(counts.values()) == [threads * each] * 2
