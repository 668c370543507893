"""Write side of the regression app: create datasets, store, replace and delete batches, train models.

Views, commands and tasks call these; they hold the business rules.  Every change to a
dataset's data (a batch appended, replaced or deleted) is one new data revision
(``Dataset.revision``), stored in one transaction: its ``Batch`` row, the revision and its
runtime inputs (in one engine revision) together, so a rejected change leaves no trace and
an accepted one is never half-stored.  Changes come in through ``scheduling`` (e.g.
``batch_accept``), which also asks for their training.

Batch numbers are identities: a replaced batch keeps its number, a deleted one keeps its
row (marked ``deleted_at``) and its number is never given again; its runtime input is
deleted, so ``batch_count`` stays the highest number ever given and a deleted batch reads
as missing (the statistics count it as no rows).
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from time import perf_counter
from typing import Any

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from runtime import Runtime

from . import inputs
from .descent import RegressionError
from .models import Batch, BatchRun, Dataset, default_modes
from .moments import moments_of
from .modes import Mode, mode_check
from .parsing import parse_batch, parse_rows
from .runtimes import dataset_runtime, dataset_runtime_drop
from .training import Progress, train
from .work import WorkLog

#: The settings ``dataset_update`` may change (features and target are fixed at creation).
SETTINGS_FIELDS = ("learning_rate", "momentum", "max_iterations", "tolerance", "standardize", "initial_weights",
                   "warm_start", "modes", "window", "l2")
MAX_ITERATIONS = 100_000


class DuplicateBatch(RegressionError):
    """The batch's numbers equal those of a batch already accepted (``number``)."""

    def __init__(self, message: str, *, number: int) -> None:
        super().__init__(message)
        self.number = number


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _settings_errors(dataset: Dataset) -> dict[str, str]:
    """Check the training settings and column names of an unsaved or changed dataset."""
    errors: dict[str, str] = {}
    features = dataset.features
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        errors["features"] = "give a non-empty list of feature column names"
    else:
        bad = [f for f in features if not f or f != f.strip() or any(c in f for c in ",\"\r\n")]
        if bad:
            errors["features"] = (
                f"column names must be non-empty, without commas, quotes, newlines or outer spaces: {bad}"
            )
        elif len(set(features)) != len(features):
            errors["features"] = "feature names must be unique"
        elif dataset.target in features:
            errors["target"] = f"the target {dataset.target!r} cannot also be a feature"
    if not dataset.target or dataset.target != dataset.target.strip() or any(c in dataset.target for c in ",\"\r\n"):
        errors["target"] = "give the target column's name (no commas, quotes, newlines or outer spaces)"
    if dataset.learning_rate is not None and not (_finite(dataset.learning_rate) and dataset.learning_rate > 0):
        errors["learning_rate"] = "must be a positive number, or empty for auto"
    if dataset.momentum is not None and not (_finite(dataset.momentum) and 0 <= dataset.momentum < 1):
        errors["momentum"] = "must be in [0, 1), or empty for auto"
    if not isinstance(dataset.max_iterations, int) or not 1 <= dataset.max_iterations <= MAX_ITERATIONS:
        errors["max_iterations"] = f"must be an integer from 1 to {MAX_ITERATIONS}"
    if not (_finite(dataset.tolerance) and dataset.tolerance >= 0):
        errors["tolerance"] = "must be a number >= 0"
    window = dataset.window
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        errors["window"] = "must be a positive integer (the last K batches by number), or empty for every batch"
    if not (_finite(dataset.l2) and dataset.l2 >= 0):
        errors["l2"] = "must be a number >= 0 (0: no ridge penalty)"
    modes = dataset.modes
    try:
        valid = isinstance(modes, list) and bool(modes) and len({mode_check(m) for m in modes}) == len(modes)
    except ValidationError:
        valid = False
    if not valid:
        errors["modes"] = f"give a non-empty list of distinct modes from {', '.join(Mode.values)}"
    start = dataset.initial_weights
    if start is not None and "features" not in errors:
        weights = start.get("weights", {}) if isinstance(start, dict) else None
        if (
            not isinstance(weights, dict)
            or set(start) - {"weights", "bias"}
            or set(weights) - set(features)
            or not all(_finite(w) for w in weights.values())
            or not _finite(start.get("bias", 0.0))
        ):
            errors["initial_weights"] = (
                'give {"weights": {feature: number}, "bias": number} (finite numbers, known features)'
            )
    return errors


def dataset_settings(dataset: Dataset) -> dict[str, Any]:
    """The training settings as the runtime input holds them (a plain dict)."""
    return {
        "features": tuple(dataset.features),
        "learning_rate": "auto" if dataset.learning_rate is None else float(dataset.learning_rate),
        "momentum": "auto" if dataset.momentum is None else float(dataset.momentum),
        "max_iterations": int(dataset.max_iterations),
        "tolerance": float(dataset.tolerance),
        "standardize": bool(dataset.standardize),
        "window": None if dataset.window is None else int(dataset.window),
        "l2": float(dataset.l2),
    }


def _configured_start(dataset: Dataset) -> tuple[tuple[float, ...], float] | None:
    """The dataset's initial weights as ``(weights, bias)`` in feature order, or None for zeros."""
    start = dataset.initial_weights
    if start is None:
        return None
    weights = start.get("weights", {})
    return tuple(float(weights.get(f, 0.0)) for f in dataset.features), float(start.get("bias", 0.0))


def _push_settings(rt: Runtime, dataset: Dataset) -> None:
    """Set the dataset's settings and starting points as runtime inputs, in one engine transaction (or the caller's)."""
    with rt.transaction():
        inputs.training_settings.set(rt, dataset_settings(dataset))
        for mode in Mode.values:
            inputs.initial_model.set(rt, mode, _configured_start(dataset))


def dataset_create(
    *,
    owner: AbstractBaseUser,
    name: str,
    features: list[str],
    target: str,
    learning_rate: float | None = None,
    momentum: float | None = None,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
    standardize: bool = True,
    initial_weights: dict[str, Any] | None = None,
    warm_start: bool = False,
    modes: list[str] | None = None,
    window: int | None = None,
    l2: float = 0.0,
) -> Dataset:
    """Create ``owner``'s dataset with no batches yet; raises ValidationError naming each bad field."""
    dataset = Dataset(
        owner=owner,
        name=name,
        features=list(features) if isinstance(features, (list, tuple)) else features,
        target=target,
        learning_rate=learning_rate,
        momentum=momentum,
        max_iterations=max_iterations,
        tolerance=tolerance,
        standardize=standardize,
        initial_weights=initial_weights,
        warm_start=warm_start,
        modes=list(modes) if modes is not None else default_modes(),
        window=window,
        l2=l2,
    )
    errors = _settings_errors(dataset)
    if not name or name != name.strip():
        errors["name"] = "give a name without outer spaces"
    elif Dataset.objects.filter(owner=owner, name=name).exists():
        errors["name"] = f"you already have a dataset named {name!r}"
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        dataset.save()
        rt = dataset_runtime(dataset)
        with rt.transaction():  # a new dataset's inputs are one engine revision
            _push_settings(rt, dataset)
            inputs.batch_count.set(rt, 0)
    return dataset


def dataset_update(*, dataset: Dataset, **changes: Any) -> tuple[Dataset, bool]:
    """Change training settings (``SETTINGS_FIELDS``); returns the dataset and whether anything changed.

    A change is one new data revision, stored with the runtime inputs in one transaction;
    settings equal to the current ones change nothing.  Raises ValidationError naming each
    bad or unchangeable field (then nothing is stored).  It asks for no training:
    ``scheduling.dataset_reconfigure`` does both.
    """
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({field: "cannot be changed (only training settings can)" for field in sorted(unknown)})
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        changed = [field for field, value in changes.items() if getattr(locked, field) != value]
        for field in changed:
            setattr(locked, field, changes[field])
        errors = _settings_errors(locked)
        if errors:
            raise ValidationError(errors)
        if not changed:
            return locked, False
        locked.save(update_fields=changed)
        _revision_next(locked)
        _push_settings(dataset_runtime(locked), locked)
    return locked, True


def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset, its batches and records, and retire its runtime namespace."""
    with transaction.atomic():
        dataset_runtime_drop(dataset)
        dataset.delete()


def batch_content_hash(X: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of a batch's numbers in the dataset's column order (formatting does not matter)."""
    digest = hashlib.sha256()
    digest.update(np.asarray(X.shape, dtype=np.int64).tobytes())
    digest.update(memoryview(np.ascontiguousarray(X, dtype="<f8")))  # no copy of the bytes
    digest.update(memoryview(np.ascontiguousarray(y, dtype="<f8")))
    return digest.hexdigest()


def _parsed(
    dataset: Dataset, content: str | bytes | None, rows: Sequence[object] | None, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """A CSV batch (``content``) or rows of values (``rows``) as ``(X, y)``; BatchError says what is wrong."""
    if (content is None) == (rows is None):
        raise TypeError("give either content (CSV text) or rows")
    if rows is None:
        return parse_batch(content, dataset.features, dataset.target, source)
    return parse_rows(rows, dataset.features, dataset.target, source)


def _duplicate_check(dataset: Dataset, digest: str, source: str, *, other_than: int | None = None) -> None:
    """Raise DuplicateBatch when a live batch (other than number ``other_than``) has these numbers."""
    same = (
        dataset.batches.filter(content_hash=digest, deleted_at__isnull=True).exclude(number=other_than)
        .values_list("number", flat=True).first()
    )
    if same is not None:
        raise DuplicateBatch(f"{source}: identical to batch #{same} of {dataset.name!r} (not added again)",
                             number=same)


def _revision_next(dataset: Dataset) -> int:
    """Count one more change of the (locked) dataset and return its new data revision."""
    Dataset.objects.filter(pk=dataset.pk).update(revision=F("revision") + 1)
    dataset.refresh_from_db(fields=["revision"])
    return dataset.revision


def _batch_live(*, dataset: Dataset, number: int) -> Batch:
    """The dataset's batch ``number`` unless deleted; Batch.DoesNotExist (naming it) otherwise."""
    batch = dataset.batches.filter(number=number, deleted_at__isnull=True).first()
    if batch is None:
        raise Batch.DoesNotExist(f"{dataset.name!r} has no batch #{number}")
    return batch


def batch_create(
    *,
    dataset: Dataset,
    content: str | bytes | None = None,
    rows: Sequence[object] | None = None,
    source: str = "batch.csv",
) -> Batch:
    """Store a CSV batch (``content``) or rows of values (``rows``) as the dataset's next batch.

    Raises BatchError (nothing stored) or DuplicateBatch.  The ``Batch`` row, the new data
    revision and the runtime inputs are written in one transaction, the inputs (the
    rows, their statistics and ``batch_count``) in one engine revision.  It asks for no training:
    ``scheduling.batch_accept`` does both.
    """
    X, y = _parsed(dataset, content, rows, source)
    digest, moments = batch_content_hash(X, y), moments_of(X, y)  # before the locks
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        _duplicate_check(locked, digest, source)
        last = locked.batches.order_by("-number").values_list("number", flat=True).first() or 0
        row = Batch.objects.create(dataset=locked, number=last + 1, rows=len(y), content_hash=digest, source=source,
                                   revision=_revision_next(locked))
        rt = dataset_runtime(locked)
        with rt.transaction():  # one revision: no reader sees the rows without the count
            inputs.batch_put(rt, row.number, (X, y), moments)
            inputs.batch_count.set(rt, row.number)
    return row


def batch_replace(
    *,
    dataset: Dataset,
    number: int,
    content: str | bytes | None = None,
    rows: Sequence[object] | None = None,
    source: str = "batch.csv",
) -> tuple[Batch, bool]:
    """Replace the rows of batch ``number`` (same rules as ``batch_create``); returns it and whether it changed.

    Rows equal to its own change nothing (no revision).  Raises Batch.DoesNotExist for a
    missing or deleted batch, BatchError or DuplicateBatch (a different live batch has these
    numbers); then nothing is stored.  It asks for no training (``scheduling.batch_resubmit``).
    """
    X, y = _parsed(dataset, content, rows, source)
    digest, moments = batch_content_hash(X, y), moments_of(X, y)  # before the locks
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        batch = _batch_live(dataset=locked, number=number)
        if batch.content_hash == digest:
            return batch, False
        _duplicate_check(locked, digest, source, other_than=number)
        batch.rows, batch.content_hash, batch.source, batch.replaced_at = len(y), digest, source, timezone.now()
        batch.revision = _revision_next(locked)
        batch.save(update_fields=["rows", "content_hash", "source", "replaced_at", "revision"])
        rt = dataset_runtime(locked)
        inputs.batch_put(rt, number, (X, y), moments)
    return batch, True


def batch_delete(*, dataset: Dataset, number: int) -> Batch:
    """Delete batch ``number``: mark its row deleted and delete its runtime input, as one new data revision.

    Its number is never given again; the other batches keep theirs.  Raises
    Batch.DoesNotExist for a missing or already deleted batch.  It asks for no training
    (``scheduling.batch_withdraw``).
    """
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        batch = _batch_live(dataset=locked, number=number)
        batch.deleted_at, batch.revision = timezone.now(), _revision_next(locked)
        batch.save(update_fields=["deleted_at", "revision"])
        rt = dataset_runtime(locked)
        inputs.batch_remove(rt, number)
    return batch


def _warm_start(dataset: Dataset, mode: str, rt: Any, upto: int) -> None:
    """Start ``mode`` from its last model before data revision ``upto`` (or the configured start if none)."""
    previous = (
        BatchRun.objects.filter(dataset=dataset, mode=mode, revision__lt=upto, diverged=False)
        .order_by("-revision")
        .values_list("weights", "bias")
        .first()
    )
    start = _configured_start(dataset) if previous is None else (tuple(previous[0]), float(previous[1]))
    inputs.initial_model.set(rt, mode, start)


def _floats(values: Iterable[float]) -> list[float | None]:
    """JSON-safe floats: non-finite values become None."""
    return [float(v) if math.isfinite(v) else None for v in values]


def _data_state(dataset: Dataset) -> tuple[int, tuple[int, int, int] | None]:
    """The dataset's data revision now and its newest live batch as ``(id, number, rows)`` (None if none)."""
    revision = Dataset.objects.filter(pk=dataset.pk).values_list("revision", flat=True).get()
    latest = (
        dataset.batches.filter(deleted_at__isnull=True).order_by("-number").values_list("id", "number", "rows").first()
    )
    return revision, latest


def model_train(
    *,
    dataset: Dataset,
    mode: str,
    progress: Progress | None = None,
    checkpoint_seconds: float | None = None,
    attempts: int = 1,
) -> BatchRun:
    """Bring ``mode``'s model up to date with the dataset's data and record it (and its cost) at its revision.

    ``progress(iteration, loss)`` is called as iterations complete; ``checkpoint_seconds``
    stores the iterations so far that often (see ``training.train``); ``attempts`` is how
    many workers started this update, for the record, which also keeps what the engine
    executed, reused and re-verified, and why (``work.WorkLog``).  The record's revision is the data
    revision read before training when it is unchanged after (else training runs again,
    up to three times, from its memos; still racing, the record takes the earlier revision
    and the training state stays behind, so it is trained once more).  Raises
    RegressionError when the dataset has no rows, ValidationError for an unknown mode.
    """
    mode = mode_check(mode)
    rt = dataset_runtime(dataset)
    for _ in range(3):
        revision, latest = _data_state(dataset)
        if latest is None:
            raise RegressionError(f"dataset {dataset.name!r} has no rows yet: add a batch before training")
        if dataset.warm_start:
            _warm_start(dataset, mode, rt, revision)
        before = rt.counters.snapshot()
        work = WorkLog()
        rt.add_listener(work)
        started = perf_counter()
        try:
            result = train(rt, mode, progress, checkpoint_seconds)
        finally:
            rt.remove_listener(work)
        wall_ms = (perf_counter() - started) * 1e3
        after = rt.counters.snapshot()
        if _data_state(dataset)[0] == revision:
            break
    errors, best = result["gradient_errors"], result["optimum"]
    previous = (
        BatchRun.objects.filter(dataset=dataset, mode=mode, revision__lt=revision)
        .order_by("-revision")
        .values_list("revision", flat=True)
        .first()
    )
    run, _ = BatchRun.objects.update_or_create(
        dataset=dataset,
        revision=revision,
        mode=mode,
        defaults={
            "batch_id": latest[0],
            "first_batch": (previous or 0) + 1,
            "attempts": attempts,
            "rows_batch": latest[2],
            "rows_total": result["rows"],
            "wall_ms": wall_ms,
            "iterations": result["iterations"],
            "converged": result["converged"],
            "diverged": result["diverged"],
            "executed": after["executions"] - before["executions"],
            "reused": (after["hits"] - before["hits"]) + (after["verifications"] - before["verifications"]),
            "work": work.summary(),
            "work_calls": work.calls(),
            "loss": result["loss"],
            "losses": _floats(result["losses"]),
            "elapsed_ms": _floats(result["elapsed_ms"]),
            "spreads": {"features": _floats(result["spread"]), "target": result["target_spread"]},
            "weights": _floats(result["weights"]),
            "bias": result["bias"],
            "optimum": {"weights": _floats(best["weights"]), "bias": best["bias"], "loss": best["loss"]},
            "gradient_error": max(errors) if errors else None,
            "gradient_errors": _floats(errors) if errors is not None else None,
            "learning_rate": result["learning_rate"],
            "momentum": result["momentum"],
            "message": result["message"] or "",
            "warnings": result["warnings"],
        },
    )
    return run


def dataset_train(*, dataset: Dataset, progress: Mapping[str, Progress] | None = None) -> list[BatchRun]:
    """Bring every mode the dataset is configured for up to date; one record per mode."""
    return [
        model_train(dataset=dataset, mode=mode, progress=(progress or {}).get(mode)) for mode in dataset.modes
    ]
