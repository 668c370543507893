"""Storage backend selection for the runtime tests: the one place that says which stores they run on.

Every test that takes ``rt`` or ``make_runtime`` runs once per entry of ``STORAGE_KINDS``.
Tests use only the public API and the ``rt.storage`` seam, so a new backend joins the
whole suite by adding its kind here and a branch to ``make_storage``.  Every test starts
with an empty execution log (tests/execution_log.py).
"""
from __future__ import annotations

import itertools
from typing import Protocol

import pytest

from runtime import Runtime
from runtime.storage import MemoryStorage, Storage
from tests.execution_log import log

#: "database" is DatabaseStorage on the test database that DATABASE_URL selects (SQLite by
#: default; CI runs the suite again on PostgreSQL), with committed transactions as in
#: production, so other threads and processes see the rows.
STORAGE_KINDS = ["memory", pytest.param("database", marks=pytest.mark.django_db(transaction=True))]
_namespaces = itertools.count()


class RuntimeFactory(Protocol):
    """Signature of the ``make_runtime`` fixture."""

    def __call__(self, storage: Storage | None = None, *, max_depth: int | None = None) -> Runtime: ...


@pytest.fixture(autouse=True)
def _fresh_execution_log() -> None:
    """Start every test with an empty execution log, so it sees only its own executions."""
    log.clear()


@pytest.fixture(params=STORAGE_KINDS)
def storage_kind(request: pytest.FixtureRequest) -> str:
    """The storage backend the current test runs on."""
    return request.param


@pytest.fixture
def make_storage(storage_kind: str):
    """Factory of fresh, empty stores of the current kind."""

    def make() -> Storage:
        if storage_kind == "memory":
            return MemoryStorage()
        if storage_kind == "database":
            from runtime.db.storage import DatabaseStorage

            return DatabaseStorage(namespace=f"test-{next(_namespaces)}")
        raise ValueError(f"unknown storage kind {storage_kind!r}")

    return make


@pytest.fixture
def make_runtime(make_storage) -> RuntimeFactory:
    """Factory of runtimes: on a fresh store, or on ``storage`` (a second runtime on the same store)."""

    def make(storage: Storage | None = None, *, max_depth: int | None = None) -> Runtime:
        return Runtime(storage if storage is not None else make_storage(), max_depth=max_depth)

    return make


@pytest.fixture
def rt(make_runtime: RuntimeFactory) -> Runtime:
    """A runtime on a fresh store of the current kind."""
    return make_runtime()
