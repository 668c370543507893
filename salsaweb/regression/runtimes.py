"""Which runtime (and memo store) holds a dataset's inputs and memos: the one place that decides."""
from __future__ import annotations

from django.conf import settings

from runtime import Runtime
from runtime.db import DatabaseStorage
from runtime.db.services import namespace_mark_deleted

from .models import Dataset

#: Runtimes of the in-memory store, by namespace (``REGRESSION_STORE = "memory"``: benchmarks only).
_MEMORY: dict[str, Runtime] = {}


def dataset_runtime(dataset: Dataset) -> Runtime:
    """The dataset's runtime: the database store in the dataset's own namespace.

    Setting ``REGRESSION_STORE = "memory"`` keeps each namespace in this process instead
    (lost when it exits), to measure the engine without the store.
    """
    if getattr(settings, "REGRESSION_STORE", "database") == "memory":
        if dataset.namespace not in _MEMORY:
            _MEMORY[dataset.namespace] = Runtime()
        return _MEMORY[dataset.namespace]
    return Runtime(storage=DatabaseStorage(namespace=dataset.namespace))


def dataset_runtime_drop(dataset: Dataset) -> None:
    """Forget a deleted dataset's runtime: drop its memory namespace and mark its database one for ``memo_gc``.

    Either may be missing: a dataset lives in one store, and an in-memory one has no namespace row.
    """
    _MEMORY.pop(dataset.namespace, None)
    namespace_mark_deleted(dataset.namespace, missing_ok=True)
