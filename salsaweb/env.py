"""Typed readers for environment variables and DATABASE_URL, so every setting has one parsing rule."""

from __future__ import annotations

import os
from typing import Any

import dj_database_url

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# Applied to every SQLite connection: WAL lets readers run beside the single writer, the
# timeout (seconds) makes a writer wait for the lock instead of failing at once, and
# IMMEDIATE transactions take the write lock up front so that wait actually applies.
SQLITE_OPTIONS: dict[str, Any] = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
}


def env_str(name: str, default: str) -> str:
    """Return the variable's value, or ``default`` when it is unset or empty."""
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean variable (1/true/yes/on, 0/false/no/off); reject anything else loudly."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int) -> int:
    """Parse an integer variable, or return ``default`` when it is unset or empty."""
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def env_float(name: str, default: float) -> float:
    """Parse a number variable, or return ``default`` when it is unset or empty."""
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def env_list(name: str, default: list[str]) -> list[str]:
    """Parse a comma-separated variable into a list of non-empty, stripped items."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_config(url: str, conn_max_age: int) -> dict[str, Any]:
    """Turn a DATABASE_URL into Django's DATABASES entry, adding the SQLite concurrency options."""
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        options = config.setdefault("OPTIONS", {})
        for key, value in SQLITE_OPTIONS.items():
            options.setdefault(key, value)
    return config


#: The cache backend of each SALSAWEB_CACHE_URL scheme (every one but locmem is shared by processes).
CACHE_BACKENDS: dict[str, str] = {
    "redis": "django.core.cache.backends.redis.RedisCache",
    "rediss": "django.core.cache.backends.redis.RedisCache",
    "db": "django.core.cache.backends.db.DatabaseCache",
    "file": "django.core.cache.backends.filebased.FileBasedCache",
    "locmem": "django.core.cache.backends.locmem.LocMemCache",
}


#: Entries the database and file caches keep before culling a third of them (Django's default, 300,
#: would let a flood of throttle counts cull the sign-in counts).
CACHE_MAX_ENTRIES = 100_000


def cache_config(url: str, key_prefix: str, timeout: int = 300) -> dict[str, Any]:
    """Turn a SALSAWEB_CACHE_URL (redis://host:6379/1, db://table, file:///abs/dir, locmem://) into a CACHES entry.

    ``timeout`` is the lifetime of entries stored without one (the database cache's ``incr`` stores so).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in CACHE_BACKENDS:
        raise ValueError(f"SALSAWEB_CACHE_URL={url!r}: use one of {', '.join(s + '://' for s in CACHE_BACKENDS)}")
    if scheme in ("redis", "rediss"):
        location = url
    elif scheme == "file":
        if not rest.startswith("/"):
            raise ValueError(f"SALSAWEB_CACHE_URL={url!r}: a file cache needs an absolute folder, file:///abs/dir")
        location = rest
    elif scheme == "db":
        location = rest.strip("/") or "salsaweb_cache"
    else:
        location = rest
    config: dict[str, Any] = {"BACKEND": CACHE_BACKENDS[scheme], "LOCATION": location, "KEY_PREFIX": key_prefix,
                              "TIMEOUT": timeout}
    if scheme in ("db", "file"):
        config["OPTIONS"] = {"MAX_ENTRIES": CACHE_MAX_ENTRIES}
    return config
