"""Sign-in limits: failed sign-ins counted per username and per client address in the shared cache.

Counts live in fixed windows of ``SALSAWEB_LOGIN_WINDOW_SECONDS``: once a username or an
address has that many failures in the current window, every sign-in for it (a right
password too) is refused until the window ends. The cache is the deployment's shared one
(``SALSAWEB_CACHE_URL``), so the limits hold across web processes. On Redis a count is one
atomic ``INCR``; the database cache reads and then writes, so there each count runs in a
transaction that holds a lock on its key (PostgreSQL: an advisory lock; SQLite: the write
lock its IMMEDIATE transactions take), else concurrent failures would overwrite each
other's counts (6 threads x 15 failures counted 39-50 of 90).
"""
from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle


def client_address(request: HttpRequest | Any) -> str:
    """The client's address: REMOTE_ADDR, or the X-Forwarded-For entry SALSAWEB_TRUSTED_PROXIES points at."""
    return BaseThrottle().get_ident(request) or ""


def _keys(username: str, address: str, window: int) -> list[tuple[str, int]]:
    """The cache keys of the current window for this username and address, each with its limit."""
    index = int(time.time() // window)
    return [(f"login-failures:user:{_digest(username)}:{index}", settings.SALSAWEB_LOGIN_FAILURES_PER_USERNAME),
            (f"login-failures:addr:{_digest(address)}:{index}", settings.SALSAWEB_LOGIN_FAILURES_PER_ADDRESS)]


def _digest(text: str) -> str:
    """A fixed-length key part for any username or address, however long or odd."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def login_wait(*, username: str, address: str) -> int:
    """Seconds until a sign-in for ``username`` from ``address`` is allowed again (0: allowed now)."""
    window = settings.SALSAWEB_LOGIN_WINDOW_SECONDS
    keys = _keys(username, address, window)
    counts = caches["default"].get_many([key for key, _ in keys])
    if all(counts.get(key, 0) < limit for key, limit in keys):
        return 0
    return max(1, math.ceil(window - time.time() % window))


def login_failure_record(*, username: str, address: str) -> None:
    """Count one failed sign-in against both the username and the address."""
    window = settings.SALSAWEB_LOGIN_WINDOW_SECONDS
    backend = caches["default"]
    for key, _ in _keys(username, address, window):
        if not isinstance(backend, DatabaseCache):
            _count(backend, key, window)
            continue
        alias = router.db_for_write(backend.cache_model_class)
        with transaction.atomic(using=alias):  # on SQLite, BEGIN IMMEDIATE: one writer at a time
            if connections[alias].vendor == "postgresql":
                lock = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
                with connections[alias].cursor() as cursor:  # held to the transaction's end
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock])
            _count(backend, key, window)


def _count(backend: BaseCache, key: str, window: int) -> None:
    """One more under ``key``, created at 1 for ``window`` seconds (atomic only where the caller made it so)."""
    if backend.add(key, 1, timeout=window):
        return
    try:
        backend.incr(key)
    except ValueError:  # expired between add and incr: count it afresh
        backend.add(key, 1, timeout=window)
