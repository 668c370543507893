"""Write side of the regression app: create datasets, store batches, train models.

Views, commands and tasks call these; they hold the business rules.  A batch is stored
in one transaction (its ``Batch`` row and its runtime input together), so a rejected
batch leaves no trace and an accepted one is never half-stored; batches come in through
``scheduling.batch_accept``, which also asks for their training.
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

from . import inputs
from .descent import RegressionError
from .models import Batch, BatchRun, Dataset, default_modes
from .modes import Mode, mode_check
from .parsing import parse_batch, parse_rows
from .runtimes import dataset_runtime, dataset_runtime_drop
from .training import Progress, train

#: The settings ``dataset_update`` may change (features and target are fixed at creation).
SETTINGS_FIELDS = ("learning_rate", "momentum", "max_iterations", "tolerance", "standardize", "initial_weights",
                   "warm_start", "modes")
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
    }


def _configured_start(dataset: Dataset) -> tuple[tuple[float, ...], float] | None:
    """The dataset's initial weights as ``(weights, bias)`` in feature order, or None for zeros."""
    start = dataset.initial_weights
    if start is None:
        return None
    weights = start.get("weights", {})
    return tuple(float(weights.get(f, 0.0)) for f in dataset.features), float(start.get("bias", 0.0))


def _push_settings(dataset: Dataset) -> None:
    """Set the dataset's settings and starting points as runtime inputs (no revision if unchanged)."""
    rt = dataset_runtime(dataset)
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
        _push_settings(dataset)
        inputs.batch_count.set(dataset_runtime(dataset), 0)
    return dataset


def dataset_update(*, dataset: Dataset, **changes: Any) -> Dataset:
    """Change training settings; models retrain from them at their next update."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({field: "cannot be changed (only training settings can)" for field in sorted(unknown)})
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        for field, value in changes.items():
            setattr(locked, field, value)
        errors = _settings_errors(locked)
        if errors:
            raise ValidationError(errors)
        locked.save()
        _push_settings(locked)
    return locked


def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset, its batches and records, and retire its runtime namespace."""
    with transaction.atomic():
        dataset_runtime_drop(dataset)
        dataset.delete()


def batch_content_hash(X: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of a batch's numbers in the dataset's column order (formatting does not matter)."""
    digest = hashlib.sha256()
    digest.update(np.asarray(X.shape, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(X, dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(y, dtype="<f8").tobytes())
    return digest.hexdigest()


def batch_create(
    *,
    dataset: Dataset,
    content: str | bytes | None = None,
    rows: Sequence[object] | None = None,
    source: str = "batch.csv",
) -> Batch:
    """Store a CSV batch (``content``) or rows of values (``rows``) as the dataset's next batch.

    Raises BatchError (nothing stored) or DuplicateBatch.  The ``Batch`` row and
    the runtime inputs are written in one transaction, the two inputs (the rows and
    ``batch_count``) in one engine revision.  It asks for no training:
    ``scheduling.batch_accept`` does both.
    """
    if (content is None) == (rows is None):
        raise TypeError("give either content (CSV text) or rows")
    if rows is None:
        X, y = parse_batch(content, dataset.features, dataset.target, source)
    else:
        X, y = parse_rows(rows, dataset.features, dataset.target, source)
    digest = batch_content_hash(X, y)
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        same = locked.batches.filter(content_hash=digest).values_list("number", flat=True).first()
        if same is not None:
            raise DuplicateBatch(f"{source}: identical to batch #{same} of {locked.name!r} (not added again)",
                                 number=same)
        last = locked.batches.order_by("-number").values_list("number", flat=True).first() or 0
        row = Batch.objects.create(dataset=locked, number=last + 1, rows=len(y), content_hash=digest, source=source)
        rt = dataset_runtime(locked)
        with rt.transaction():  # one revision: no reader sees the rows without the count
            inputs.batch.set(rt, row.number, (X, y))
            inputs.batch_count.set(rt, row.number)
    return row


def _warm_start(dataset: Dataset, mode: str, rt: Any, upto: int) -> None:
    """Start ``mode`` from its last model before batch ``upto`` (or the configured start if none)."""
    previous = (
        BatchRun.objects.filter(dataset=dataset, mode=mode, batch__number__lt=upto, diverged=False)
        .order_by("-batch__number")
        .values_list("weights", "bias")
        .first()
    )
    start = _configured_start(dataset) if previous is None else (tuple(previous[0]), float(previous[1]))
    inputs.initial_model.set(rt, mode, start)


def _floats(values: Iterable[float]) -> list[float | None]:
    """JSON-safe floats: non-finite values become None."""
    return [float(v) if math.isfinite(v) else None for v in values]


def model_train(
    *,
    dataset: Dataset,
    mode: str,
    progress: Progress | None = None,
    checkpoint_seconds: float | None = None,
    attempts: int = 1,
) -> BatchRun:
    """Bring ``mode``'s model up to date with every accepted batch and record it (and its cost).

    ``progress(iteration, loss)`` is called as iterations complete; ``checkpoint_seconds``
    stores the iterations so far that often (see ``training.train``); ``attempts`` is how
    many workers started this update, for the record.  Raises RegressionError when the
    dataset has no rows yet, ValidationError for an unknown mode.
    """
    mode = mode_check(mode)
    latest = dataset.batches.order_by("-number").values_list("id", "number", "rows").first()
    if latest is None:
        raise RegressionError(f"dataset {dataset.name!r} has no rows yet: add a batch before training")
    rt = dataset_runtime(dataset)
    if dataset.warm_start:
        _warm_start(dataset, mode, rt, latest[1])
    before = rt.counters.snapshot()
    started = perf_counter()
    result = train(rt, mode, progress, checkpoint_seconds)
    wall_ms = (perf_counter() - started) * 1e3
    after = rt.counters.snapshot()
    if result["batches"] != latest[1]:  # another batch arrived meanwhile: the model covers it too
        latest = dataset.batches.filter(number=result["batches"]).values_list("id", "number", "rows").get()
    errors, best = result["gradient_errors"], result["optimum"]
    previous = (
        BatchRun.objects.filter(dataset=dataset, mode=mode, batch__number__lt=latest[1])
        .order_by("-batch__number")
        .values_list("batch__number", flat=True)
        .first()
    )
    run, _ = BatchRun.objects.update_or_create(
        batch_id=latest[0],
        mode=mode,
        defaults={
            "dataset": dataset,
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
            "loss": result["loss"],
            "losses": _floats(result["losses"]),
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
