"""Regression datasets, their batches, and one training record per (data revision, mode).

A batch's numbers live in the dataset's runtime namespace (one input per batch); the
``Batch`` row holds what the web app lists and checks: its number, size and a content
hash for duplicate detection.  A dataset's *data revision* (``Dataset.revision``) counts
its changes: every append, delete or replacement of a batch and every settings change is
one.  A deleted batch keeps its row, marked ``deleted_at`` (its number is never used
again, and the records trained on it keep pointing at it); its runtime input is deleted.
A ``BatchRun`` is the model a mode had once it was brought up to date with the data at
``revision``: its read-out and what the update cost.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from .modes import DEFAULT_MODES, Mode


def default_modes() -> list[str]:
    """The modes a new dataset trains unless told otherwise."""
    return list(DEFAULT_MODES)


def new_namespace() -> str:
    """A runtime namespace no other dataset, present or deleted, has used."""
    return f"regression-{uuid.uuid4().hex}"


class Dataset(models.Model):
    """Named feature columns, a target column, and how to train on them; owned by one user."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="datasets",
        help_text="Who sees and changes it (staff see all). Delete a user's datasets before the user.",
    )
    name = models.CharField(max_length=200, help_text="Unique among its owner's datasets.")
    namespace = models.CharField(max_length=64, unique=True, default=new_namespace, editable=False)
    features = models.JSONField(help_text="Feature column names, in model order.")
    target = models.CharField(max_length=200)
    learning_rate = models.FloatField(
        null=True, blank=True, help_text="Fixed step in optimization coordinates; empty = auto (provably convergent)."
    )
    momentum = models.FloatField(
        null=True,
        blank=True,
        help_text="Heavy-ball momentum in [0, 1); empty = auto (optimal with an auto rate, else 0).",
    )
    max_iterations = models.PositiveIntegerField(default=100)
    tolerance = models.FloatField(default=1e-6, help_text="Stop when the update is this small relative to the weights.")
    standardize = models.BooleanField(default=True, help_text="Descend in standardized coordinates (exact).")
    initial_weights = models.JSONField(
        null=True, blank=True, help_text='{"weights": {feature: w}, "bias": b} in the data\'s units; empty = zeros.'
    )
    warm_start = models.BooleanField(default=False, help_text="Start each update from the mode's last model.")
    window = models.PositiveIntegerField(
        null=True, blank=True, help_text="Train on the last K batches by number; empty = every batch."
    )
    l2 = models.FloatField(default=0.0, help_text="Ridge penalty (>= 0) on the weights, not the bias; 0 = none.")
    modes = models.JSONField(default=default_modes)
    revision = models.PositiveIntegerField(
        default=0, help_text="Data revision: changes so far (batches appended, deleted, replaced; settings changed)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="regression_dataset_unique_owner_name")]

    def __str__(self) -> str:
        return self.name


class Batch(models.Model):
    """One accepted batch of rows, numbered from 1 within its dataset; replaced in place, deleted by marking."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    rows = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the parsed numbers (column order normalized).")
    source = models.CharField(max_length=300, blank=True, help_text="File name it was uploaded (or replaced) as.")
    revision = models.PositiveIntegerField(default=0, help_text="The data revision of its last change.")
    created_at = models.DateTimeField(auto_now_add=True)
    replaced_at = models.DateTimeField(null=True, blank=True, help_text="When its rows were last replaced.")
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="When it was deleted (its number stays taken).")

    class Meta:
        ordering = ["dataset", "number"]
        verbose_name_plural = "batches"
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="regression_batch_unique_number"),
            models.UniqueConstraint(fields=["dataset", "content_hash"], condition=models.Q(deleted_at__isnull=True),
                                    name="regression_batch_unique_live_content"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} #{self.number}"


class BatchRun(models.Model):
    """A mode's model of the data at a revision, and the cost of bringing it up to date."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="runs")
    revision = models.PositiveIntegerField(default=0, help_text="The data revision this model reflects.")
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="runs",
                              help_text="The newest batch (by number) in the data at that revision.")
    mode = models.CharField(max_length=20, choices=Mode.choices)
    first_batch = models.PositiveIntegerField(
        default=1, help_text="This update took in revisions first_batch..revision (more than one when folded)."
    )
    attempts = models.PositiveIntegerField(
        default=1, help_text="Workers that started this update (over 1: earlier ones crashed or failed)."
    )
    rows_batch = models.PositiveIntegerField()
    rows_total = models.PositiveIntegerField(verbose_name="rows")
    wall_ms = models.FloatField(help_text="Wall time of the update: engine, store and numpy.")
    iterations = models.PositiveIntegerField()
    converged = models.BooleanField()
    diverged = models.BooleanField(default=False)
    executed = models.PositiveIntegerField(help_text="Derived calls executed.")
    reused = models.PositiveIntegerField(help_text="Derived calls served from memos (hits and re-verifications).")
    work = models.JSONField(
        default=dict, blank=True,
        help_text="Engine work per function: executed, hits, verified, backdated, and why calls executed.",
    )
    work_calls = models.JSONField(
        default=dict, blank=True, help_text="The calls executed and re-verified (arguments by function), for the graph.",
    )
    loss = models.FloatField(null=True)
    losses = models.JSONField(help_text="Loss at every iterate, initial weights first.")
    elapsed_ms = models.JSONField(
        null=True, blank=True, help_text="Milliseconds from the update's start to each iterate's loss (as losses)."
    )
    weights = models.JSONField(help_text="Weights in feature order, in the data's units.")
    bias = models.FloatField()
    optimum = models.JSONField(help_text='{"weights": [...], "bias": b, "loss": l}: the least-squares optimum.')
    spreads = models.JSONField(
        null=True, blank=True,
        help_text='{"features": [sd, ...], "target": sd}: standard deviations over the rows used (standardized weights).',
    )
    gradient_error = models.FloatField(null=True, help_text="delta: largest relative distance from the exact gradient.")
    gradient_errors = models.JSONField(null=True, blank=True, help_text="delta: that distance at every iterate.")
    learning_rate = models.FloatField()
    momentum = models.FloatField()
    message = models.TextField(blank=True)
    warnings = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "revision", "mode"]
        verbose_name = "training record"
        constraints = [models.UniqueConstraint(fields=["dataset", "revision", "mode"],
                                               name="regression_run_unique_revision_mode")]

    def __str__(self) -> str:
        return f"{self.dataset} r{self.revision} {self.mode}"


class TrainingState(models.Model):
    """Where background training of one (dataset, mode) stands: the queue's truth, and its lock.

    ``requested`` is the data revision the model must reach, ``covered`` the revision of its
    last record.  A worker trains only while it holds the lease (``lease_owner`` until
    ``lease_expires``, renewed by its lease thread), so one worker at a time trains a
    (dataset, mode), and a dead worker's lease runs out and its work is queued again.
    """

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATUS_CHOICES = [
        (QUEUED, "queued: a task is on its way to a worker"),
        (RUNNING, "running: a worker holds the lease"),
        (DONE, "done: the model reflects the requested revision"),
        (FAILED, "failed: gave up after an error; the next change queues it again"),
    ]

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="training_states")
    mode = models.CharField(max_length=20, choices=Mode.choices)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=QUEUED)
    requested = models.PositiveIntegerField(default=0, help_text="Data revision the model must reach.")
    covered = models.PositiveIntegerField(default=0, help_text="Data revision the last recorded model reflects.")
    first_batch = models.PositiveIntegerField(
        default=1, help_text="The current or last training takes in revisions first_batch..requested."
    )
    iteration = models.PositiveIntegerField(null=True, blank=True, help_text="Iteration reached by the current run.")
    loss = models.FloatField(null=True, blank=True, help_text="Loss at that iteration.")
    attempts = models.PositiveIntegerField(default=0, help_text="Workers that started the current work.")
    error = models.TextField(blank=True, help_text="The last failure (kept until the work succeeds).")
    lease_owner = models.CharField(max_length=200, blank=True, help_text="host:pid:task of the worker holding it.")
    lease_expires = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When the last task for it was sent.")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset", "mode"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "mode"], name="regression_trainingstate_unique_dataset_mode")
        ]
        indexes = [models.Index(fields=["status", "lease_expires"], name="regression_training_sweep")]

    def __str__(self) -> str:
        return f"{self.dataset} {self.mode}: {self.status}"
