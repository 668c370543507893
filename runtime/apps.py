"""Django app config for the memo store tables and their admin."""
from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    """The ``runtime`` app: the persistent memo store's models, admin and commands."""

    name = "runtime"
    verbose_name = "Memo store"
    default_auto_field = "django.db.models.BigAutoField"
