"""Django app config for incremental linear regression."""
from django.apps import AppConfig


class RegressionConfig(AppConfig):
    """The ``regression`` app: datasets, batches and per-(batch, mode) training records."""

    name = "salsaweb.regression"
    label = "regression"
    verbose_name = "Linear regression"
    default_auto_field = "django.db.models.BigAutoField"
