"""Project-wide test policy: slow tests run only in CI or with --run-slow; service tests skip locally but fail in CI."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import psycopg
import pytest

POSTGRES_URL = os.environ.get("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PROBE_TIMEOUT_SECONDS = 3


def in_ci() -> bool:
    """Whether CI=true is set, where every test must run and every backing service must be up."""
    return os.environ.get("CI", "").strip().lower() == "true"


def postgres_reachable() -> bool:
    """Whether PostgreSQL at POSTGRES_URL accepts a connection and answers a query."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=PROBE_TIMEOUT_SECONDS) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def redis_reachable() -> bool:
    """Whether Redis at REDIS_URL answers PING with PONG (raw protocol, so no client library is needed)."""
    parts = urlsplit(REDIS_URL)
    address = (parts.hostname or "127.0.0.1", parts.port or 6379)
    try:
        with socket.create_connection(address, timeout=PROBE_TIMEOUT_SECONDS) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


PROBES: dict[str, Callable[[], bool]] = {"postgres": postgres_reachable, "redis": redis_reachable}


def require_services(*names: str) -> None:
    """Skip the current test if a named service is down, or fail it when CI=true (CI must not hide outages)."""
    unknown = sorted(set(names) - PROBES.keys())
    if unknown:
        raise ValueError(f"unknown service(s) {unknown}; known: {sorted(PROBES)}")
    down = [name for name in names if not PROBES[name]()]
    if not down:
        return
    message = f"backing service(s) unreachable: {', '.join(down)}"
    if in_ci():
        pytest.fail(f"{message} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add --run-slow so slow (real-process) tests can be run outside CI."""
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect tests marked slow unless CI=true or --run-slow was given."""
    if in_ci() or config.getoption("--run-slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Check the services a test's ``services`` marker names (all known ones if it names none)."""
    marker = item.get_closest_marker("services")
    if marker is not None:
        require_services(*(marker.args or tuple(PROBES)))
