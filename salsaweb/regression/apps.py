"""Django app config for incremental linear regression."""
from django.apps import AppConfig


class RegressionConfig(AppConfig):
    """The ``regression`` app: datasets, batches and per-(batch, mode) training records."""

    name = "salsaweb.regression"
    label = "regression"
    verbose_name = "Linear regression"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the app's Celery tasks in every process: ``scheduling`` sends them by name, and runs them
        where it is (``train_now``, or ``CELERY_TASK_ALWAYS_EAGER`` in the tests) only if they are registered."""
        from . import tasks  # noqa: F401
