"""Celery tasks of the regression app: thin wrappers that call ``scheduling`` (found by autodiscovery)."""
from __future__ import annotations

from celery import Task

from salsaweb.celery import app

from . import scheduling


@app.task(bind=True, name="regression.train_model")
def train_model(self: Task, dataset_id: int, mode: str) -> str:
    """Bring one (dataset, mode) up to date; does nothing when it already is or another worker has it."""
    return scheduling.training_run(dataset_id=dataset_id, mode=mode, task_id=self.request.id or "eager")


@app.task(name="regression.sweep_training")
def sweep_training() -> dict[str, int]:
    """Queue again lost or stuck training (workers send this every TRAINING_SWEEP_SECONDS)."""
    return scheduling.training_sweep()
