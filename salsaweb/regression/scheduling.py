"""The request side of background training: accept a change, ask for its training, send the tasks after commit.

Every change to a dataset's data comes in here: ``batch_accept`` (a new batch: the API, the
dashboard, the samples and ``regression_demo`` call it), ``batch_resubmit`` (a batch's rows
replaced), ``batch_withdraw`` (a batch deleted) and ``dataset_reconfigure`` (training
settings changed).  Each stores the change through its
service and raises each mode's ``TrainingState.requested`` to the new data revision in one
transaction, and only after the commit sends a ``train_model`` task per mode, so a worker
never looks for data that is not there yet.  With ``train_now`` the same task runs in this
process before it returns instead, under the lease a worker would take (``leases``), so
there is a record per revision and mode and the training states say what happened.

Tasks go out by name (``TRAIN_MODEL``), so this module needs neither the tasks nor the lease
machine they run (both import this one).  Every Django process registers the tasks (see
``apps.py``): ``CELERY_TASK_ALWAYS_EAGER`` (the tests) then runs them where they are sent.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def training_request(*, dataset: Dataset, revision: int, send: bool = True) -> list[TrainingState]:
    """Ask for each of the dataset's modes to reflect data revision ``revision``; ``send`` the tasks after commit.

    A dataset without live batches has nothing to train: no request, no states.
    """
    if not dataset.batches.filter(deleted_at__isnull=True).exists():
        return []
    now = timezone.now()
    states = []
    with transaction.atomic():
        for mode in dataset.modes:
            state, _ = TrainingState.objects.select_for_update().get_or_create(dataset=dataset, mode=mode)
            state.requested = max(state.requested, revision)
            if state.status != TrainingState.RUNNING:  # a running worker folds the new changes in itself
                state.status, state.attempts, state.first_batch = TrainingState.QUEUED, 0, state.covered + 1
                state.iteration = state.loss = None
            state.queued_at = now
            state.save()
            if send:
                training_send(dataset_id=dataset.pk, mode=mode)
            states.append(state)
    return states


def _train_here(dataset: Dataset, states: list[TrainingState]) -> None:
    """Run each state's training task in this process now, and reload the states."""
    for state in states:
        app.signature(TRAIN_MODEL, args=(dataset.pk, state.mode)).apply().get()
        state.refresh_from_db()


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
        states = training_request(dataset=dataset, revision=batch.revision, send=not train_now)
    if train_now:
        _train_here(dataset, states)
    return batch, states


def batch_resubmit(
    *,
    dataset: Dataset,
    number: int,
    content: str | bytes | None = None,
    rows: Sequence[object] | None = None,
    source: str = "batch.csv",
    train_now: bool = False,
) -> tuple[Batch, list[TrainingState]]:
    """Replace batch ``number``'s rows (``services.batch_replace``) and have every mode retrained, as ``batch_accept``.

    Rows equal to the batch's own change nothing and queue nothing (no states).  Raises
    Batch.DoesNotExist, BatchError or DuplicateBatch, with nothing stored.
    """
    with transaction.atomic():
        batch, changed = services.batch_replace(dataset=dataset, number=number, content=content, rows=rows,
                                                source=source)
        states = training_request(dataset=dataset, revision=batch.revision, send=not train_now) if changed else []
    if train_now:
        _train_here(dataset, states)
    return batch, states


def batch_withdraw(
    *, dataset: Dataset, number: int, train_now: bool = False
) -> tuple[Batch, list[TrainingState]]:
    """Delete batch ``number`` (``services.batch_delete``) and have every mode retrained without it.

    Raises Batch.DoesNotExist for a missing or already deleted batch.
    """
    with transaction.atomic():
        batch = services.batch_delete(dataset=dataset, number=number)
        states = training_request(dataset=dataset, revision=batch.revision, send=not train_now)
    if train_now:
        _train_here(dataset, states)
    return batch, states


def dataset_reconfigure(
    *, dataset: Dataset, train_now: bool = False, **changes: Any
) -> tuple[Dataset, list[TrainingState]]:
    """Change training settings (``services.dataset_update``) and have every mode retrained with them.

    Settings equal to the current ones change nothing and queue nothing (no states).
    Raises ValidationError naming each bad field, with nothing stored.
    """
    with transaction.atomic():
        updated, changed = services.dataset_update(dataset=dataset, **changes)
        states = training_request(dataset=updated, revision=updated.revision, send=not train_now) if changed else []
    if train_now:
        _train_here(updated, states)
    return updated, states
