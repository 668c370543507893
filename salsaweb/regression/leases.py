"""The lease state machine of background training: claim, renew, finish, fail and retry, sweep.

The ``TrainingState`` row of a (dataset, mode) is the queue's truth and its lock
(``scheduling`` raises its ``requested`` and sends the tasks):

- A worker claims the row (``status`` running, ``lease_owner`` and ``lease_expires``) in a
  short transaction and trains outside any transaction.  A lease thread renews the short
  lease every ``TRAINING_HEARTBEAT_SECONDS`` whatever the training does (one engine step may
  take longer than the lease), unless no iteration completed for ``TRAINING_STALL_SECONDS``;
  iterations write the iteration reached and the loss, and the iterations are stored at least
  every ``TRAINING_CHECKPOINT_SECONDS``, so a crash loses only what was computed since.
  Every write checks the lease owner (fencing): a worker whose lease was taken stops.
- A task that finds the row done, failed, or leased by a live worker does nothing, so tasks
  are idempotent and redelivery is harmless.  The worker holding the lease trains again
  while ``requested`` moved on meanwhile: changes that arrive faster than training are
  folded into one update, and its ``BatchRun`` says which data revisions it took in.
- An error is recorded on the row and retried with back-off, at most
  ``TRAINING_MAX_ATTEMPTS`` starts in all (crashes count); data that cannot be trained
  fails at once.  An input that vanished because the data changed under the training
  (``MissingInputError`` with a newer data revision) is no error: it trains again at once.  ``training_sweep`` (every worker queues one now and then) queues again
  the work of workers whose lease ran out and of tasks that never reached a worker.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import threading
from datetime import timedelta
from time import monotonic

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from runtime import MissingInputError

from . import scheduling
from .descent import RegressionError
from .models import Dataset, TrainingState
from .services import model_train

logger = logging.getLogger(__name__)

_HOST = socket.gethostname()


class LeaseLost(Exception):
    """Another worker took over this training (our lease ran out): stop without recording."""


def _lease() -> timedelta:
    return timedelta(seconds=settings.TRAINING_LEASE_SECONDS)


def _owner(task_id: str) -> str:
    return f"{_HOST}:{os.getpid()}:{task_id}"


def _lost_worker_error(state: TrainingState) -> str:
    return (
        f"worker {state.lease_owner} stopped renewing its lease at iteration {state.iteration} "
        "(it crashed, was killed or is stuck)"
    )


def training_claim(*, dataset_id: int, mode: str, owner: str) -> TrainingState | None:
    """Take the lease of a (dataset, mode) that has work queued, or None when there is nothing to do here."""
    now = timezone.now()
    with transaction.atomic():
        state = (
            TrainingState.objects.select_for_update(of=("self",)).select_related("dataset")
            .filter(dataset_id=dataset_id, mode=mode).first()
        )
        if state is None or state.status in (TrainingState.DONE, TrainingState.FAILED):
            return None
        if state.status == TrainingState.RUNNING:
            if state.lease_expires is not None and state.lease_expires > now:
                return None  # a live worker has it and folds newer batches in before it lets go
            state.error = _lost_worker_error(state)
        if state.covered >= state.requested:
            state.status, state.lease_owner, state.lease_expires = TrainingState.DONE, "", None
            state.save()
            return None
        if state.attempts >= settings.TRAINING_MAX_ATTEMPTS:
            state.status, state.finished_at, state.lease_owner, state.lease_expires = (
                TrainingState.FAILED, now, "", None)
            state.error = f"gave up after {state.attempts} attempts; the last: {state.error or 'unknown'}"
            state.save()
            return None
        state.status, state.lease_owner, state.lease_expires = TrainingState.RUNNING, owner, now + _lease()
        state.attempts += 1
        state.first_batch = state.covered + 1
        state.started_at = state.heartbeat_at = now
        state.iteration = state.loss = None
        state.save()
        return state


def _renew(pk: int, owner: str, **progress: object) -> bool:
    """Extend the lease (and write ``progress``) if ``owner`` still holds it; False when it was taken."""
    now = timezone.now()
    return bool(TrainingState.objects.filter(pk=pk, status=TrainingState.RUNNING, lease_owner=owner).update(
        heartbeat_at=now, lease_expires=now + _lease(), **progress))


class _LeaseKeeper(threading.Thread):
    """Renews a lease every ``TRAINING_HEARTBEAT_SECONDS`` on its own connection, so a long engine step keeps it.

    It stops renewing once no iteration was reported for ``TRAINING_STALL_SECONDS`` (a stuck
    training loses its lease), and sets ``lost`` when another worker took the lease.
    """

    def __init__(self, pk: int, owner: str) -> None:
        super().__init__(name=f"lease-{owner}", daemon=True)
        self.pk, self.owner = pk, owner
        self.progressed = monotonic()
        self.lost, self._stop_event = threading.Event(), threading.Event()

    def run(self) -> None:
        interval = max(float(settings.TRAINING_HEARTBEAT_SECONDS), 0.05)
        try:
            while not self._stop_event.wait(interval):
                if monotonic() - self.progressed > settings.TRAINING_STALL_SECONDS:
                    logger.warning("training lease %s: no progress for %g s, no longer renewed", self.owner,
                                   settings.TRAINING_STALL_SECONDS)
                    return
                if not _renew(self.pk, self.owner):
                    self.lost.set()
                    return
        except Exception:  # the database is away: the lease runs out and the work is taken over
            logger.exception("training lease %s: renewal failed", self.owner)
        finally:
            connection.close()  # this thread's own connection

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join()


class _Heartbeat:
    """The progress callback: every ``TRAINING_HEARTBEAT_SECONDS`` write the iteration and loss (renewing the lease).

    Raises LeaseLost as soon as the lease is found taken, here or by the lease thread.
    """

    def __init__(self, state: TrainingState, owner: str, keeper: _LeaseKeeper | None = None) -> None:
        self.pk, self.owner, self.keeper, self.last = state.pk, owner, keeper, monotonic()

    def __call__(self, iteration: int, loss: float) -> None:
        if self.keeper is not None:
            self.keeper.progressed = monotonic()
            if self.keeper.lost.is_set():
                raise LeaseLost()
        if monotonic() - self.last < settings.TRAINING_HEARTBEAT_SECONDS:
            return
        self.last = monotonic()
        if not _renew(self.pk, self.owner, iteration=iteration, loss=loss if math.isfinite(loss) else None):
            raise LeaseLost()


def _finish(state: TrainingState, owner: str, covered: int, run_iterations: int, loss: float | None) -> bool:
    """Record the revision the model now reflects; True when newer changes arrived meanwhile (keep the lease, go on)."""
    now = timezone.now()
    with transaction.atomic():
        state = TrainingState.objects.select_for_update().get(pk=state.pk)
        if state.status != TrainingState.RUNNING or state.lease_owner != owner:
            raise LeaseLost()
        state.covered = max(state.covered, covered)
        state.iteration, state.loss, state.heartbeat_at = run_iterations, loss, now
        more = state.requested > state.covered
        if more:
            state.first_batch, state.attempts, state.lease_expires = state.covered + 1, 1, now + _lease()
        else:
            state.status, state.lease_owner, state.lease_expires, state.finished_at, state.error = (
                TrainingState.DONE, "", None, now, "")
        state.save()
    return more


def _fail(state: TrainingState, owner: str, error: str, permanent: bool) -> str:
    """Record an error: retry later with back-off while attempts remain, else mark the training failed."""
    now = timezone.now()
    with transaction.atomic():
        state = TrainingState.objects.select_for_update().filter(pk=state.pk).first()
        if state is None or state.status != TrainingState.RUNNING or state.lease_owner != owner:
            return "lease lost"
        state.error, state.lease_owner, state.lease_expires = error, "", None
        if permanent or state.attempts >= settings.TRAINING_MAX_ATTEMPTS:
            state.status, state.finished_at = TrainingState.FAILED, now
            state.save()
            return "failed"
        countdown = min(2.0**state.attempts, 60.0)
        state.status, state.queued_at = TrainingState.QUEUED, now + timedelta(seconds=countdown)
        state.save()
        scheduling.training_send(dataset_id=state.dataset_id, mode=state.mode, countdown=countdown)
    return "retrying"


def _revision(dataset_id: int) -> int | None:
    """The dataset's data revision now (None once it is deleted)."""
    return Dataset.objects.filter(pk=dataset_id).values_list("revision", flat=True).first()


def training_run(*, dataset_id: int, mode: str, task_id: str) -> str:
    """A worker's whole job for one task: claim, train (folding newer batches in), record; returns the outcome."""
    owner = _owner(task_id)
    state = training_claim(dataset_id=dataset_id, mode=mode, owner=owner)
    if state is None:
        return "nothing to do"
    if transaction.get_connection().in_atomic_block:
        # Inside a caller's transaction (eager tasks in a test or request) the claim is not
        # committed: no other connection sees the lease, none can take it, and the thread could
        # not renew it.  Progress writes renew it on this connection.
        return _train_leased(state, owner, None)
    keeper = _LeaseKeeper(state.pk, owner)
    keeper.start()
    try:
        return _train_leased(state, owner, keeper)
    finally:
        keeper.stop()


def _train_leased(state: TrainingState, owner: str, keeper: _LeaseKeeper | None) -> str:
    """Train under a held lease until the model reflects the newest data revision; returns the outcome."""
    dataset_id, mode = state.dataset_id, state.mode
    while True:
        revision = _revision(dataset_id)
        try:
            run = model_train(
                dataset=state.dataset,
                mode=mode,
                progress=_Heartbeat(state, owner, keeper),
                checkpoint_seconds=settings.TRAINING_CHECKPOINT_SECONDS,
                attempts=state.attempts,
            )
            more = _finish(state, owner, run.revision, run.iterations, run.loss)
        except LeaseLost:
            logger.warning("training %s/%s: another worker took over (lease lost)", dataset_id, mode)
            return "lease lost"
        except MissingInputError as exc:
            if _revision(dataset_id) != revision:  # a batch deleted or replaced under it: not a failed attempt
                logger.info("training %s/%s: the data changed under it (%s); training the newest revision",
                            dataset_id, mode, exc)
                continue
            return _fail(state, owner, f"MissingInputError: {exc}", permanent=True)  # the same input is missing again
        except (RegressionError, ValidationError) as exc:
            return _fail(state, owner, f"{type(exc).__name__}: {exc}", permanent=True)
        except Exception as exc:
            logger.exception("training %s/%s failed", dataset_id, mode)
            return _fail(state, owner, f"{type(exc).__name__}: {exc}", permanent=False)
        if not more:
            return "done"
        state.attempts = 1


def training_sweep() -> dict[str, int]:
    """Queue again the work of workers whose lease ran out, and queued work no worker started in time."""
    now = timezone.now()
    requeued = resent = 0
    stale = now - timedelta(seconds=settings.TRAINING_QUEUE_TIMEOUT_SECONDS)
    overdue = Q(status=TrainingState.RUNNING, lease_expires__lt=now) | Q(status=TrainingState.QUEUED,
                                                                          queued_at__lt=stale)
    if not TrainingState.objects.filter(overdue).exists():  # the usual case, every second: no lock taken
        return {"requeued": 0, "resent": 0}
    with transaction.atomic():
        expired = TrainingState.objects.select_for_update(skip_locked=True).filter(
            status=TrainingState.RUNNING, lease_expires__lt=now
        )
        for state in expired:
            state.error = _lost_worker_error(state)
            state.status, state.lease_owner, state.lease_expires, state.queued_at = TrainingState.QUEUED, "", None, now
            state.save()
            scheduling.training_send(dataset_id=state.dataset_id, mode=state.mode)
            requeued += 1
        waiting = TrainingState.objects.select_for_update(skip_locked=True).filter(
            status=TrainingState.QUEUED, queued_at__lt=stale
        )
        for state in waiting:
            state.queued_at = now
            state.save(update_fields=["queued_at"])
            scheduling.training_send(dataset_id=state.dataset_id, mode=state.mode)
            resent += 1
    if requeued or resent:
        logger.warning("training sweep: %d lost lease(s) queued again, %d task(s) sent again", requeued, resent)
    return {"requeued": requeued, "resent": resent}
