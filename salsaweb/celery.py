"""The Celery app, ``salsaweb.celery.app``: settings from Django's under the CELERY_ namespace, tasks autodiscovered.

Start workers with ``celery -A salsaweb worker``.  Like ``wsgi.py`` this defaults to the
production settings, so a forgotten DJANGO_SETTINGS_MODULE fails safe.  Every worker also
queues a training sweep every TRAINING_SWEEP_SECONDS (``regression.leases``), so work whose
worker died is found and queued again without a separate beat process.  It sends the sweep
by name, so this module imports no app: the apps' task modules import it.
"""
from __future__ import annotations

import os
from typing import Any

from celery import Celery, bootsteps
from celery.signals import task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salsaweb.settings.production")
# A worker process is the unit of parallelism (one per core by default): numpy's BLAS
# threads on top of that oversubscribe the cores and slow every worker down.  Effective
# in workers, which import this module before numpy; set these variables to override.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

#: The name of the regression app's sweep task, which every worker queues now and then.
SWEEP_TRAINING = "regression.sweep_training"

app = Celery("salsaweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def keep_database_connections(**kwargs: Any) -> None:
    """Workers keep database connections for WORKER_CONN_MAX_AGE seconds (web requests: CONN_MAX_AGE).

    Runs in the worker's main process before its pool processes start, which inherit it.
    Opening a PostgreSQL connection costs more than a small training's transactions.
    """
    from django.conf import settings

    for config in settings.DATABASES.values():
        config["CONN_MAX_AGE"] = settings.WORKER_CONN_MAX_AGE


@task_prerun.connect
def close_broken_connections(task: Any = None, **kwargs: Any) -> None:
    """Before each task, as before each web request: drop connections that broke or outlived their age."""
    if task is not None and not getattr(task.request, "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()


class TrainingSweeper(bootsteps.StartStopStep):
    """Worker step: queue a ``SWEEP_TRAINING`` task now and then (expiring if no worker takes it)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.tref: Any = None

    def start(self, worker: Any) -> None:
        from django.conf import settings

        interval = float(settings.TRAINING_SWEEP_SECONDS)
        self.tref = worker.timer.call_repeatedly(interval, self.sweep, (interval,), priority=10)

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    @staticmethod
    def sweep(interval: float) -> None:
        """Send one sweep task, valid for one interval (so sweeps do not pile up behind long trainings)."""
        app.signature(SWEEP_TRAINING).apply_async(expires=interval)


app.steps["worker"].add(TrainingSweeper)
