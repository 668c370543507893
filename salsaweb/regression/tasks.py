"""Celery tasks of the regression app: thin wrappers over the lease machine (``leases``), found by autodiscovery."""
from __future__ import annotations

from celery import Task

from salsaweb.celery import SWEEP_TRAINING, app

from . import leases
from .scheduling import TRAIN_MODEL


@app.task(bind=True, name=TRAIN_MODEL)
def train_model(self: Task, dataset_id: int, mode: str) -> str:
    """Bring one (dataset, mode) up to date; does nothing when it already is or another worker has it."""
    return leases.training_run(dataset_id=dataset_id, mode=mode, task_id=self.request.id or "eager")


@app.task(name=SWEEP_TRAINING)
def sweep_training() -> dict[str, int]:
    """Queue again lost or stuck training (every worker runs it every TRAINING_SWEEP_SECONDS)."""
    return leases.training_sweep()
