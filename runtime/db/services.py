"""Writes to the memo store that other apps ask for (the engine's own go through ``DatabaseStorage``)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import Namespace


def namespace_mark_deleted(name: str, using: str = "default", *, missing_ok: bool = False) -> bool:
    """Mark a namespace for removal by ``memo_gc`` (new units of work on it then fail); False if already marked.

    It waits for the namespace's row lock, which ``DatabaseStorage`` holds while it writes.  A
    missing namespace raises ``Namespace.DoesNotExist``, or with ``missing_ok`` returns False.
    """
    with transaction.atomic(using=using):
        row = Namespace.objects.using(using).select_for_update().filter(name=name).values_list("id", "deleted_at")
        found = row.first()
        if found is None:
            if missing_ok:
                return False
            raise Namespace.DoesNotExist(f"no namespace named {name!r}")
        if found[1] is not None:
            return False
        Namespace.objects.using(using).filter(id=found[0]).update(deleted_at=timezone.now())
        return True
