"""The Celery app, ``salsaweb.celery.app``: settings from Django's under the CELERY_ namespace, tasks autodiscovered.

Start workers with ``celery -A salsaweb worker``.  Like ``wsgi.py`` this defaults to the
production settings, so a forgotten DJANGO_SETTINGS_MODULE fails safe.  Every worker also
runs a training sweep every TRAINING_SWEEP_SECONDS in a thread of its main process
(``regression.leases``), so work whose worker died is found and queued again within seconds,
without a separate beat process and even while every pool process is busy training.  It
finds the sweep task by name, so this module imports no app: the apps' task modules import it.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import Celery, bootsteps
from celery.signals import task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salsaweb.settings.production")
# A worker process is the unit of parallelism (one per core by default): numpy's BLAS
# threads on top of that oversubscribe the cores and slow every worker down.  Effective
# in workers, which import this module before numpy; set these variables to override.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

logger = logging.getLogger(__name__)

#: The name of the regression app's sweep task, which every worker runs now and then.
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
    """Worker step: a thread of the main process runs the ``SWEEP_TRAINING`` task every TRAINING_SWEEP_SECONDS.

    Not a queued task: behind a long training a queued sweep would wait for a free pool
    process, and the work of a dead worker with it.
    """

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.thread: threading.Thread | None = None
        self.stopped = threading.Event()

    def start(self, worker: Any) -> None:
        from django.conf import settings

        self.stopped.clear()
        self.thread = threading.Thread(target=self.loop, args=(float(settings.TRAINING_SWEEP_SECONDS),),
                                       name="training-sweeper", daemon=True)
        self.thread.start()

    def stop(self, worker: Any) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
            self.thread = None

    def loop(self, interval: float) -> None:
        """Sweep, then wait one interval, until the worker stops; an error is logged and the next sweep tries again."""
        from django.db import close_old_connections, connection

        try:
            while not self.stopped.wait(interval):
                close_old_connections()
                try:
                    app.tasks[SWEEP_TRAINING]()
                except Exception:
                    logger.exception("training sweep failed")
        finally:
            connection.close()


app.steps["worker"].add(TrainingSweeper)
