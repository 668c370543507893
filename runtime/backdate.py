"""Backdating (early cutoff): an equal recomputed value keeps its old ``changed_at``."""
from __future__ import annotations

from typing import Any

from .storage.base import Memo
from .values import values_equal


def backdated_changed_at(old: Memo | None, new_value: Any, revision: int) -> int | None:
    """Return the old memo's ``changed_at`` if ``new_value`` equals its value, else None.

    Dependents verified after ``old.changed_at`` saw this same value, so they stay valid
    and are not re-executed.
    """
    if old is not None and values_equal(old.value, new_value):
        return old.changed_at
    return None
