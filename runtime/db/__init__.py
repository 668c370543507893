"""The persistent memo store: the engine's database ``Storage`` and the Django app of its tables.

``from runtime.db import DatabaseStorage`` is the store; the app (``INSTALLED_APPS``:
``runtime.db``, app label ``runtime``) holds the models, migrations, admin and ``memo_gc``.
"""
from .storage import DatabaseStorage, NamespaceDeleted

__all__ = ["DatabaseStorage", "NamespaceDeleted"]
