"""Read side of the regression app: datasets, batches, run records, model read-outs and predictions.

Read-outs come from the ``BatchRun`` records, so reading a model never trains and the model
at any past data revision can be read.  A dataset's *data version* is its data revision
(``Dataset.revision``, the API's ``revision``): how many changes it has had (batches
appended, replaced or deleted, settings changed); the engine's revisions are another
counter, per runtime namespace.  Deleted batches are not listed.  Shapes match what the
API serves.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from runtime.db.selectors import function_code_versions, namespace_memo_list, namespace_row_ids
from runtime.keys import normalize_args

from .descent import RegressionError
from .models import Batch, BatchRun, Dataset, TrainingState
from .modes import mode_check
from .runtimes import dataset_runtime
from .training import FUNCTIONS

#: Calls listed per function in a model's graph (the rest are counted by state only).
GRAPH_NODES_SHOWN = 200

RUN_FIELDS = ("revision", "batch", "mode", "first_batch", "attempts", "rows_batch", "rows_total", "wall_ms",
              "iterations", "converged", "diverged", "executed", "reused", "loss", "gradient_error")
STATE_FIELDS = ("status", "requested", "covered", "first_batch", "iteration", "loss", "attempts", "error",
                "lease_owner", "lease_expires", "queued_at", "started_at", "heartbeat_at", "finished_at")


def dataset_list() -> QuerySet[Dataset]:
    """Every dataset, by name."""
    return Dataset.objects.order_by("name")


def dataset_get(*, owner: AbstractBaseUser, name: str) -> Dataset:
    """``owner``'s dataset called ``name`` (Dataset.DoesNotExist if there is none)."""
    return Dataset.objects.get(owner=owner, name=name)


def datasets_visible(*, user: AbstractBaseUser) -> QuerySet[Dataset]:
    """The datasets ``user`` may see and change (their own; every one for staff), by name.

    Each carries ``data_version`` (its data revision), ``batch_count`` (its live batches)
    and ``rows`` (rows in them).
    """
    live = Q(batches__deleted_at__isnull=True)
    datasets = Dataset.objects.select_related("owner").annotate(
        data_version=F("revision"), batch_count=Count("batches", filter=live),
        rows=Coalesce(Sum("batches__rows", filter=live), 0),
    )
    if not user.is_staff:
        datasets = datasets.filter(owner=user)
    return datasets.order_by("name", "id")


def dataset_states(*, datasets: Sequence[Dataset]) -> dict[int, str]:
    """Each dataset's training state by id, in two queries for all of them.

    ``empty`` (no live batches), ``trained`` (every mode's model reflects the data revision),
    else what background training is doing: ``failed`` (a mode gave up), ``training`` (a
    worker is on it) or ``queued``.  The datasets must carry ``data_version`` and
    ``batch_count`` (as ``datasets_visible`` gives them).
    """
    ids = [d.pk for d in datasets]
    covered: dict[tuple[int, str], int] = {
        (row["dataset_id"], row["mode"]): row["covered"]
        for row in BatchRun.objects.filter(dataset_id__in=ids).values("dataset_id", "mode")
        .annotate(covered=Max("revision"))
    }
    statuses: dict[int, set[str]] = {}
    for dataset_id, status in TrainingState.objects.filter(dataset_id__in=ids).values_list("dataset_id", "status"):
        statuses.setdefault(dataset_id, set()).add(status)
    states = {}
    for dataset in datasets:
        behind = any(covered.get((dataset.pk, mode), 0) < dataset.data_version for mode in dataset.modes)
        status = statuses.get(dataset.pk, set())
        if dataset.batch_count == 0:
            states[dataset.pk] = "empty"
        elif not behind:
            states[dataset.pk] = "trained"
        elif TrainingState.FAILED in status:
            states[dataset.pk] = "failed"
        elif TrainingState.RUNNING in status:
            states[dataset.pk] = "training"
        else:
            states[dataset.pk] = "queued"
    return states


def models_cover(*, dataset: Dataset, data_version: int) -> bool:
    """Whether every mode of the dataset has a model of data revision ``data_version`` or later."""
    covered = BatchRun.objects.filter(dataset=dataset, revision__gte=data_version).values("mode").distinct()
    return set(dataset.modes) <= {row["mode"] for row in covered}


def run_records(*, dataset: Dataset) -> QuerySet[BatchRun]:
    """Per-(revision, mode) records in revision order, with ``batch_number``, without the per-iteration lists."""
    return (
        BatchRun.objects.filter(dataset=dataset)
        .annotate(batch_number=F("batch__number"))
        .defer("losses", "gradient_errors", "weights", "optimum", "warnings", "work_calls")
        .order_by("revision", "mode")
    )


def curve_records(*, dataset: Dataset) -> QuerySet[BatchRun]:
    """Convergence curves (loss per iteration and the optimum), newest revision first, with ``batch_number``."""
    return (
        BatchRun.objects.filter(dataset=dataset)
        .annotate(batch_number=F("batch__number"))
        .only("id", "revision", "mode", "first_batch", "rows_total", "wall_ms", "iterations", "converged", "losses",
              "elapsed_ms", "optimum", "batch_id")
        .order_by("-revision", "mode")
    )


def memo_records(*, dataset: Dataset) -> QuerySet:
    """The memos of the dataset's runtime namespace, latest changed first, with ``verified_at``, without values."""
    return namespace_memo_list(name=dataset.namespace)


def memo_functions_named(*, name: str) -> list[str]:
    """The stored function names that ``name`` names: the full dotted name, or a dotted tail (``statistics``).

    The distinct names come from a loose scan of the memo store's function index, so this
    costs as many lookups as there are functions, not rows.
    """
    names = dict.fromkeys(function for function, _ in function_code_versions())
    return [function for function in names if function == name or function.endswith(f".{name}")]


def model_revision_latest(*, dataset: Dataset, mode: str) -> int | None:
    """The latest data revision a model of ``mode`` was recorded at (None before its first)."""
    return BatchRun.objects.filter(dataset=dataset, mode=mode).aggregate(latest=Max("revision"))["latest"]


def dataset_data_version(*, dataset: Dataset) -> int:
    """The dataset's data version now: its data revision, read from the database."""
    return Dataset.objects.filter(pk=dataset.pk).values_list("revision", flat=True).get()


def dataset_mode(*, dataset: Dataset, mode: str | None = None) -> str:
    """``mode`` (default: the dataset's first mode), which the dataset must train; else a ValidationError."""
    return dataset.modes[0] if mode is None else mode_check(mode, among=dataset.modes)


def batch_list(*, dataset: Dataset) -> QuerySet[Batch]:
    """The dataset's live (not deleted) batches in number order."""
    return dataset.batches.filter(deleted_at__isnull=True).order_by("number")


def batch_get(*, dataset: Dataset, number: int) -> Batch | None:
    """The dataset's live batch ``number``, or None (never given, or deleted)."""
    return batch_list(dataset=dataset).filter(number=number).first()


def run_list(*, dataset: Dataset, mode: str | None = None, batch_number: int | None = None) -> list[dict[str, Any]]:
    """Per-(revision, mode) records in revision order (of one mode, one newest batch if given): rows, time, loss."""
    runs = BatchRun.objects.filter(dataset=dataset).select_related("batch").order_by("revision", "mode")
    if mode is not None:
        runs = runs.filter(mode=mode)
    if batch_number is not None:
        runs = runs.filter(batch__number=batch_number)
    return [
        {field: (run.batch.number if field == "batch" else getattr(run, field)) for field in RUN_FIELDS}
        for run in runs
    ]


def _named(features: Sequence[str], values: Sequence[float | None]) -> dict[str, float | None]:
    return dict(zip(features, values))


def _standardized_weights(run: BatchRun, features: Sequence[str]) -> dict[str, float | None] | None:
    """Weights in target standard deviations per feature standard deviation (w x sd(x) / sd(y)), comparable
    across features whatever their units; None for a record made before spreads were kept."""
    if not run.spreads:
        return None
    target = run.spreads["target"]
    return _named(features, [
        None if w is None or s is None or not target else w * s / target
        for w, s in zip(run.weights, run.spreads["features"])
    ])


def model_get(*, dataset: Dataset, mode: str, data_version: int | None = None) -> dict[str, Any] | None:
    """A mode's model at data revision ``data_version`` (default: the latest it was trained on), or None if none.

    In the API's names: ``revision`` is the data revision the model reflects,
    ``data_revision`` the dataset's now; ``up_to_date`` says whether they agree; ``batch``
    is the newest batch number in the model's data.
    """
    mode = mode_check(mode)
    runs = BatchRun.objects.filter(dataset=dataset, mode=mode).select_related("batch")
    run = (runs.filter(revision=data_version) if data_version is not None else runs.order_by("-revision")).first()
    if run is None:
        return None
    current = dataset_data_version(dataset=dataset)
    features = dataset.features
    best = run.optimum
    return {
        "mode": mode,
        "revision": run.revision,
        "data_revision": current,
        "up_to_date": run.revision == current,
        "batch": run.batch.number,
        "features": list(features),
        "target": dataset.target,
        "rows": run.rows_total,
        "weights": _named(features, run.weights),
        "standardized_weights": _standardized_weights(run, features),
        "bias": run.bias,
        "iterations": run.iterations,
        "converged": run.converged,
        "diverged": run.diverged,
        "loss": run.loss,
        "losses": run.losses,
        "elapsed_ms": run.elapsed_ms,
        "optimum": {"weights": _named(features, best["weights"]), "bias": best["bias"], "loss": best["loss"]},
        "gradient_error": run.gradient_error,
        "gradient_errors": run.gradient_errors,
        "learning_rate": run.learning_rate,
        "momentum": run.momentum,
        "message": run.message,
        "warnings": run.warnings,
        "wall_ms": run.wall_ms,
        "work": run.work,
    }


def _admin_url(kind: str, row_id: int | None) -> str | None:
    """The admin change page of a memo or input row."""
    if row_id is None:
        return None
    return reverse("admin:runtime_memo_change" if kind == "derived" else "admin:runtime_inputvalue_change",
                   args=[row_id])


def model_graph(*, dataset: Dataset, mode: str, data_version: int | None = None) -> dict[str, Any] | None:
    """The dependency graph of a mode's model (its last iteration's memo, from ``explain``), grouped by function.

    Each call is ``executed`` or ``verified`` when the run at that revision did so (its
    ``work_calls``), else ``reused`` (served from its memo); inputs are ``input``, ``deleted``
    (a deleted batch) or ``unset`` (a slot read but never given, such as a block's later batches).  Per function: its calls by state, the first ``GRAPH_NODES_SHOWN``
    with links to their admin rows, and the functions it reads.  The graph is the store's as it
    is now (``store_revision``), which is the run's unless the data moved on since.  None when
    there is no such run, or its memo is gone (collected, or another store).
    """
    mode = mode_check(mode)
    runs = BatchRun.objects.filter(dataset=dataset, mode=mode).only("revision", "iterations", "work_calls")
    run = (runs.filter(revision=data_version) if data_version is not None else runs.order_by("-revision")).first()
    if run is None:
        return None
    rt = dataset_runtime(dataset)
    try:
        explanation = rt.explain(FUNCTIONS[mode][1], run.iterations)
    except LookupError:
        return None
    done = {kind: {(fn, repr(list(args))) for fn, calls in (run.work_calls or {}).get(kind, {}).items()
                   for args in calls} for kind in ("executed", "verified")}
    nodes = explanation.nodes
    groups: dict[str, dict[str, Any]] = {}
    for node in nodes.values():
        fn = node["function"]
        group = groups.setdefault(fn, {"function": fn.rsplit(".", 1)[-1], "id": fn, "kind": node["kind"],
                                       "states": {}, "deps": {}, "nodes": []})
        if node["kind"] == "input":
            state = {"set": "input"}.get(node["state"], node["state"])  # or deleted, or unset (never given)
        else:
            call = (fn, repr(node["args"]))
            state = "executed" if call in done["executed"] else "verified" if call in done["verified"] else "reused"
        group["states"][state] = group["states"].get(state, 0) + 1
        for dep in node["deps"]:
            group["deps"][nodes[dep]["function"]] = None
        if len(group["nodes"]) < GRAPH_NODES_SHOWN:
            group["nodes"].append({"label": node["label"], "state": state, "args": node["args"]})
    keys = {kind: [(g["id"], normalize_args(g["id"], (), tuple(n["args"]))) for g in groups.values()
                   if g["kind"] == kind for n in g["nodes"]] for kind in ("derived", "input")}
    ids = namespace_row_ids(name=dataset.namespace, memos=keys["derived"], inputs=keys["input"])
    functions = []
    for group in groups.values():
        for n in group["nodes"]:
            n["url"] = _admin_url(group["kind"], ids.get((group["id"], normalize_args(group["id"], (), tuple(n["args"])))))
        group["calls"] = sum(group["states"].values())
        group["chained"] = group["id"] in group["deps"]  # its calls read each other (a step chain, a tree)
        group["deps"] = [groups[d]["function"] for d in group["deps"] if d != group["id"]]
        functions.append(group)
    return {"mode": mode, "revision": run.revision, "store_revision": explanation.revision,
            "root": nodes[explanation.root]["label"], "calls": len(nodes), "functions": functions}


def model_predict(
    *, dataset: Dataset, mode: str, rows: Sequence[Mapping[str, float]] | np.ndarray, data_version: int | None = None
) -> np.ndarray:
    """Predictions of a mode's model for new rows: feature dicts, or a rows x features matrix in feature order."""
    model = model_get(dataset=dataset, mode=mode, data_version=data_version)
    if model is None:
        raise RegressionError(f"no {mode} model for {dataset.name!r} yet: train it first")
    features = dataset.features
    if isinstance(rows, np.ndarray):
        X = np.asarray(rows, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(features):
            raise RegressionError(f"expected a matrix with {len(features)} columns ({', '.join(features)})")
    else:
        matrix = []
        for i, row in enumerate(rows, start=1):
            missing = [f for f in features if f not in row]
            if missing:
                raise RegressionError(f"row {i}: missing feature(s) {', '.join(map(repr, missing))}")
            matrix.append([row[f] for f in features])
        try:
            X = np.array(matrix, dtype=np.float64).reshape(len(matrix), len(features))
        except (TypeError, ValueError):
            raise RegressionError("feature values must be numbers") from None
    if not np.isfinite(X).all():
        raise RegressionError("feature values must be finite numbers")
    weights = np.array([model["weights"][f] for f in features], dtype=np.float64)
    return X @ weights + model["bias"]


def training_state_list(*, dataset: Dataset) -> list[dict[str, Any]]:
    """Where background training of each of the dataset's modes stands, for dashboards.

    One dict per mode: ``status`` (queued, running, done or failed; ``idle`` if never
    queued), ``requested`` and ``covered`` data revisions and ``pending`` (revisions not yet
    in the model), the current run's ``first_batch``, ``iteration`` reached and ``loss``,
    ``attempts``, the last ``error``, the lease, times, and ``lease_expired`` (a running
    worker that went silent; the sweep queues its work again).
    """
    states = {state.mode: state for state in TrainingState.objects.filter(dataset=dataset)}
    now = timezone.now()
    out = []
    for mode in dataset.modes:
        state = states.get(mode)
        if state is None:
            row: dict[str, Any] = {field: None for field in STATE_FIELDS}
            row.update(status="idle", requested=0, covered=0, attempts=0, error="", lease_owner="")
        else:
            row = {field: getattr(state, field) for field in STATE_FIELDS}
        row["mode"] = mode
        row["pending"] = max(row["requested"] - row["covered"], 0)
        row["lease_expired"] = (
            row["status"] == TrainingState.RUNNING and row["lease_expires"] is not None and row["lease_expires"] <= now
        )
        out.append(row)
    return out
