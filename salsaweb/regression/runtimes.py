"""Which runtime (and memo store) holds a dataset's inputs and memos: the one place that decides."""
from __future__ import annotations

from django.conf import settings

from runtime import Runtime
from runtime.db.storage import DatabaseStorage

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
    """Forget a deleted dataset's runtime: drop its memory namespace or mark its database one deleted."""
    from django.utils import timezone

    from runtime.db.models import Namespace

    _MEMORY.pop(dataset.namespace, None)
    Namespace.objects.filter(name=dataset.namespace).update(deleted_at=timezone.now())
