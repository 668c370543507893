"""Django app config of the memo store: its tables keep the app label ``runtime`` (and so their names and migrations)."""
from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    """The ``runtime.db`` app: the persistent memo store's models, admin and commands, labelled ``runtime``."""

    name = "runtime.db"
    label = "runtime"
    verbose_name = "Memo store"
    default_auto_field = "django.db.models.BigAutoField"
