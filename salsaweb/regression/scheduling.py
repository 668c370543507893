"""The request side of background training: accept a batch, ask for its training, send the tasks after commit.

``batch_accept`` is the one way a batch comes in: the API (and the dashboard, which uploads
through it), the samples and ``regression_demo`` call it.  It stores the batch and raises
each mode's ``TrainingState.requested`` in one transaction, and only after the commit sends
a ``train_model`` task per mode, so a worker never looks for a batch that is not there yet.
With ``train_now`` the same task runs in this process before it returns instead, under the
lease a worker would take (``leases``), so there is a record per batch and mode and the
training states say what happened.

Tasks go out by name (``TRAIN_MODEL``), so this module needs neither the tasks nor the lease
machine they run (both import this one).  Every Django process registers the tasks (see
``apps.py``): ``CELERY_TASK_ALWAYS_EAGER`` (the tests) then runs them where they are sent.
"""
from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from salsaweb.celery import app

from . import services
from .models import Batch, Dataset, TrainingState

#: The name of the task that brings one (dataset, mode) up to date (``tasks.train_model``).
TRAIN_MODEL = "regression.train_model"


def _send(dataset_id: int, mode: str, countdown: float | None = None) -> None:
    """Send a ``train_model`` task now (to the broker; run here when tasks are eager)."""
    app.signature(TRAIN_MODEL, args=(dataset_id, mode)).apply_async(countdown=countdown)


def training_send(*, dataset_id: int, mode: str, countdown: float | None = None) -> None:
    """Send a ``train_model`` task for (dataset, mode) once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _send(dataset_id, mode, countdown=countdown), robust=True)


def training_request(*, dataset: Dataset, data_version: int, send: bool = True) -> list[TrainingState]:
    """Ask for each of the dataset's modes to cover batches 1..``data_version``; ``send`` the tasks after commit."""
    now = timezone.now()
    states = []
    with transaction.atomic():
        for mode in dataset.modes:
            state, _ = TrainingState.objects.select_for_update().get_or_create(dataset=dataset, mode=mode)
            state.requested = max(state.requested, data_version)
            if state.status != TrainingState.RUNNING:  # a running worker folds the new batches in itself
                state.status, state.attempts, state.first_batch = TrainingState.QUEUED, 0, state.covered + 1
                state.iteration = state.loss = None
            state.queued_at = now
            state.save()
            if send:
                training_send(dataset_id=dataset.pk, mode=mode)
            states.append(state)
    return states


def batch_accept(
    *,
    dataset: Dataset,
    content: str | bytes | None = None,
    rows: Sequence[object] | None = None,
    source: str = "batch.csv",
    train_now: bool = False,
) -> tuple[Batch, list[TrainingState]]:
    """Accept a CSV batch (``content``) or rows of values (``rows``) and have every mode the dataset maintains trained.

    Returns at once, the training queued; with ``train_now`` once every mode is trained here
    (the states as training left them).  Raises BatchError or DuplicateBatch.
    """
    with transaction.atomic():
        batch = services.batch_create(dataset=dataset, content=content, rows=rows, source=source)
        states = training_request(dataset=dataset, data_version=batch.number, send=not train_now)
    if train_now:
        for state in states:
            app.signature(TRAIN_MODEL, args=(dataset.pk, state.mode)).apply().get()
            state.refresh_from_db()
    return batch, states
