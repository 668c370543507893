"""The three training modes as derived functions with an unrolled ``iteration`` argument, and the loop.

As in the Salsa.jl example this comes from, each iteration's weights are a memoized
value computed from the previous iteration's weights and gradient: ``<mode>_step(rt, i)``
reads ``<mode>_step(rt, i - 1)``, takes one descent step from its weights with its
gradient, and returns the new weights together with the gradient and loss at them (one
memo per iteration rather than two halves what the store writes and loads).  ``train``
bumps ``i`` until the update is small (``||update|| <= tolerance x max(||weights||,
rms(y))`` in optimization coordinates, see ``descent``) or the iteration limit is
reached.  Each mode has its own functions, so its memos are stored, loaded and counted
apart from the others'.

- ``naive``: the non-incremental program.  Its coordinates and step come from a fresh
  pass over every row, and every iteration's gradient and loss from another pass over
  every row: a batch costs O(all rows x iterations).
- ``delta``: the seed's incremental program with its faults fixed.  Each iteration's
  gradient keeps, through ``previous_output``, the residual sums of the rows it has
  already seen and how many batches they cover, and adds the sums of the new batches'
  rows only (no row twice, everything scaled by the total row count).  The old rows'
  residuals were computed with the weights that iteration had *before* the new data
  arrived, so the gradient is only an approximation; each iteration measures its
  distance from the exact gradient and reports it.  Like the seed it is plain gradient
  descent (momentum 0; step ``2 / (L + mu)`` when auto): with momentum the stale terms
  compound from batch to batch and the weights run away.  Its loss curve is the exact
  loss of its iterates, so the curves of all modes compare.
- ``incremental``: exact.  Gradient and loss come from the incrementally maintained
  statistics in O(features^2), so a batch costs O(batch rows x features^2) plus
  O(features^2 x iterations), whatever the total; its iterates equal ``naive``'s up to
  rounding.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np

from runtime import DerivedFunction, Runtime, derived, previous_output

from .descent import (
    Problem,
    RegressionError,
    descend,
    exact_gradient,
    from_original,
    gradient_from_raw_sums,
    gradient_from_sums,
    problem_from_moments,
    residual_sums,
    rows_gradient_sums,
    to_original,
)
from .inputs import batch, batch_count, initial_model, training_settings
from .modes import Mode
from .statistics import VERSION, statistics

#: ``progress(iteration, loss)``: called after each iteration's loss is known.
Progress = Callable[[int, float], None]


def _start(rt: Runtime, mode: str, problem: Problem) -> np.ndarray:
    """Iteration 0's weights: the mode's initial model (zeros unless set) in optimization coordinates."""
    start = initial_model(rt, mode)
    if start is None:
        return np.zeros(len(problem["features"]) + 1)
    weights, bias = start
    return from_original(problem, np.asarray(weights, dtype=np.float64), float(bias))


def _weights(
    rt: Runtime, mode: str, iteration: int, problem: Problem, step: DerivedFunction
) -> tuple[np.ndarray, np.ndarray]:
    """Iteration ``iteration``'s weights, and the previous iteration's, from the previous step."""
    if iteration == 0:
        theta = _start(rt, mode, problem)
        return theta, theta
    previous = step(rt, iteration - 1)
    return descend(problem, previous["theta"], previous["before"], previous["gradient"]), previous["theta"]


# -- incremental ----------------------------------------------------------------------


@derived(version=VERSION)
def incremental_problem(rt: Runtime) -> Problem:
    """Coordinates, curvature and step of the exact mode, from the running statistics."""
    return problem_from_moments(statistics(rt), training_settings(rt))


@derived(version=VERSION)
def incremental_step(rt: Runtime, iteration: int) -> dict[str, Any]:
    """Exact mode: weights after ``iteration`` steps, and the gradient and loss there, from the statistics."""
    problem = incremental_problem(rt)
    theta, before = _weights(rt, "incremental", iteration, problem, incremental_step)
    gradient, loss = exact_gradient(problem, theta)
    return {"theta": theta, "before": before, "gradient": gradient, "loss": loss}


# -- naive ----------------------------------------------------------------------------


@derived(version=VERSION)
def naive_problem(rt: Runtime) -> Problem:
    """Coordinates, curvature and step of the naive mode, from two passes over every row."""
    settings = training_settings(rt)
    count = batch_count(rt)
    p = len(settings["features"])
    n, total = 0, np.zeros(p + 1)
    for number in range(1, count + 1):
        X, y = batch(rt, number)
        n += len(y)
        total[:p] += X.sum(axis=0)
        total[p] += y.sum()
    mean = total / max(n, 1)
    m2 = np.zeros((p + 1, p + 1))
    for number in range(1, count + 1):
        X, y = batch(rt, number)
        centred = np.empty((len(y), p + 1))
        centred[:, :p] = X - mean[:p]
        centred[:, p] = y - mean[p]
        m2 += centred.T @ centred
    return problem_from_moments({"n": n, "mean": mean, "m2": m2}, settings)


@derived(version=VERSION)
def naive_step(rt: Runtime, iteration: int) -> dict[str, Any]:
    """Naive mode: weights after ``iteration`` steps, and the gradient and loss there, over every row."""
    problem = naive_problem(rt)
    theta, before = _weights(rt, "naive", iteration, problem, naive_step)
    sums = np.zeros(len(theta) + 1)
    for number in range(1, batch_count(rt) + 1):
        X, y = batch(rt, number)
        sums += rows_gradient_sums(problem, theta, X, y)
    gradient, loss = gradient_from_sums(sums, problem["n"])
    return {"theta": theta, "before": before, "gradient": gradient, "loss": loss}


# -- delta ----------------------------------------------------------------------------


@derived(version=VERSION)
def delta_problem(rt: Runtime) -> Problem:
    """The exact mode's coordinates and curvature, with plain (momentum-free) descent as in the seed."""
    return problem_from_moments(statistics(rt), {**training_settings(rt), "momentum": 0.0})


@derived(version=VERSION)
def delta_step(rt: Runtime, iteration: int) -> dict[str, Any]:
    """Delta mode: weights after ``iteration`` steps; gradient = previous residual sums + the new batches' rows."""
    problem = delta_problem(rt)
    theta, before = _weights(rt, "delta", iteration, problem, delta_step)
    count = batch_count(rt)
    previous = previous_output(rt)
    if previous is None or previous["batches"] > count:
        sums, first = np.zeros(len(theta) + 1), 1
    else:
        sums, first = previous["sums"].copy(), previous["batches"] + 1
    weights, bias = to_original(problem, theta)
    for number in range(first, count + 1):
        X, y = batch(rt, number)
        sums += residual_sums(X, y, weights, bias)
    gradient, _ = gradient_from_raw_sums(problem, sums)
    exact, loss = exact_gradient(problem, theta)
    error = float(np.linalg.norm(gradient - exact) / max(float(np.linalg.norm(exact)), np.finfo(float).tiny))
    return {"theta": theta, "before": before, "gradient": gradient, "loss": loss, "error": error, "sums": sums,
            "batches": count}


FUNCTIONS: dict[str, tuple[DerivedFunction, DerivedFunction]] = {
    Mode.INCREMENTAL.value: (incremental_problem, incremental_step),
    Mode.NAIVE.value: (naive_problem, naive_step),
    Mode.DELTA.value: (delta_problem, delta_step),
}


# -- the loop -------------------------------------------------------------------------


def _descend_until_done(
    rt: Runtime, mode: str, settings: dict[str, Any], progress: Progress | None, checkpoint_seconds: float | None
) -> dict[str, Any]:
    """Bump the iteration until the update is below tolerance, the limit is hit, or the loss overflows."""
    problem_fn, step_fn = FUNCTIONS[mode]
    problem = problem_fn(rt)
    limit, tolerance = int(settings["max_iterations"]), float(settings["tolerance"])
    losses: list[float] = []
    errors: list[float] = []
    iterations, converged = 0, False
    message = problem["diverges"]
    point = step_fn(rt, 0)
    theta = point["theta"]
    stored = perf_counter()
    while True:
        if not (math.isfinite(point["loss"]) and np.isfinite(point["gradient"]).all()):
            message = (
                f"the loss overflowed 64-bit floats at iteration {iterations}: the weights or the data are too "
                "large in magnitude; the model is the last iterate before that"
            )
            iterations = max(iterations - 1, 0)
            break
        theta = point["theta"]
        losses.append(point["loss"])
        if "error" in point:
            errors.append(point["error"])
        if progress is not None:
            progress(iterations, point["loss"])
        if message is not None or converged or iterations == limit:
            break
        if checkpoint_seconds is not None and perf_counter() - stored >= checkpoint_seconds:
            rt.checkpoint()
            stored = perf_counter()
        point = step_fn(rt, iterations + 1)
        update = float(np.linalg.norm(point["theta"] - theta))
        converged = update <= tolerance * max(float(np.linalg.norm(point["theta"])), problem["target_scale"])
        iterations += 1
    weights, bias = to_original(problem, theta)
    return {
        "mode": mode,
        "batches": batch_count(rt),
        "rows": problem["n"],
        "features": problem["features"],
        "weights": weights,
        "bias": bias,
        "iterations": iterations,
        "converged": converged,
        "diverged": message is not None,
        "message": message,
        "loss": losses[-1] if losses else None,
        "losses": losses,
        "gradient_errors": errors if mode == "delta" else None,
        "learning_rate": problem["learning_rate"],
        "momentum": problem["momentum"],
        "warnings": list(problem["warnings"]),
        "optimum": problem["optimum"],
    }


def train(
    rt: Runtime, mode: str, progress: Progress | None = None, checkpoint_seconds: float | None = None
) -> dict[str, Any]:
    """Bring ``mode``'s model up to date with every batch so far and describe it (a plain dict).

    The whole loop is one unit of work (one load and one bulk write for a persistent store).
    With ``checkpoint_seconds`` the iterations computed so far are also stored whenever that
    long has passed since the last store, so a crash loses at most that much work: a rerun
    finds the stored iterations and computes only the rest.  If another process adds data
    meanwhile, the loop starts over at the newer revision.  ``mode`` is one of ``FUNCTIONS``
    (``services.model_train`` checks it).
    """
    for _ in range(3):
        with rt.unit_of_work():
            start = rt.storage.revision
            settings = training_settings(rt)
            if batch_count(rt) == 0:
                raise RegressionError("no rows yet: add a batch before training")
            result = _descend_until_done(rt, mode, settings, progress, checkpoint_seconds)
            if rt.storage.revision == start:
                return result
    return result
