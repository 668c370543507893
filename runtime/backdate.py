"""Backdating (early cutoff): an equal recomputed value keeps its old ``changed_at``."""
from __future__ import annotations

from typing import Any

from .memo import Memo
from .storage.base import Storage


def backdated_changed_at(storage: Storage, old: Memo | None, new_value: Any) -> int | None:
    """Return the old memo's ``changed_at`` if ``new_value`` equals its value, else None.

    Dependents verified after ``old.changed_at`` saw this same value, so they stay valid
    and are not re-executed.  The storage compares, so a persistent one can compare
    digests instead of reading the old value back.
    """
    if old is not None and storage.same_value(old, new_value):
        return old.changed_at
    return None
