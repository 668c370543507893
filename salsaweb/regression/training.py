"""The three training modes as derived functions with an unrolled ``iteration`` argument, and the loop.

As in the Salsa.jl example this comes from, each iteration's parameters are a memoized
value: ``<mode>_weights(rt, i)`` reads ``<mode>_weights(rt, i - 1)`` (and ``i - 2``, for
momentum) and ``<mode>_gradient(rt, i - 1)``; ``train`` bumps ``i`` until the update is
smaller than the tolerance or the iteration limit is reached.  Parameters are in
optimization coordinates (see ``descent``).  Each mode has its own functions, so its
memos are stored, loaded and counted apart from the others'.

- ``naive``: the non-incremental program.  Its coordinates and step come from a fresh
  pass over every row, and every iteration's gradient and loss from another pass over
  every row: a batch costs O(all rows x iterations).
- ``delta``: the seed's incremental program with its faults fixed.  Each iteration's
  gradient keeps, through ``previous_output``, the residual sums of the rows it has
  already seen and how many batches they cover, and adds the sums of the new batches'
  rows only (no row twice, everything scaled by the total row count).  The old rows'
  residuals were computed with the weights that iteration had *before* the new data
  arrived, so the gradient is only an approximation; each iteration measures its
  distance from the exact gradient and reports it.  Its loss curve is the exact loss of
  its iterates, so the curves of all modes compare.
- ``incremental``: exact.  Gradient and loss come from the incrementally maintained
  statistics in O(features^2), so a batch costs O(batch rows x features^2) plus
  O(features^2 x iterations), whatever the total; its iterates equal ``naive``'s up to
  rounding.
"""
from __future__ import annotations

import math
from collections.abc import Callable
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
from .statistics import VERSION, statistics

MODES = ("incremental", "naive", "delta")

#: ``progress(iteration, loss)``: called after each iteration's loss is known.
Progress = Callable[[int, float], None]


def _start(rt: Runtime, mode: str, problem: Problem) -> np.ndarray:
    """Iteration 0: the mode's initial model (zeros unless set) in optimization coordinates."""
    start = initial_model(rt, mode)
    if start is None:
        return np.zeros(len(problem["features"]) + 1)
    weights, bias = start
    return from_original(problem, np.asarray(weights, dtype=np.float64), float(bias))


def _step(
    rt: Runtime, mode: str, iteration: int, problem: Problem, weights: DerivedFunction, gradient: DerivedFunction
) -> np.ndarray:
    """Iteration ``iteration``'s parameters from the previous iterations' parameters and gradient."""
    if iteration == 0:
        return _start(rt, mode, problem)
    theta = weights(rt, iteration - 1)
    slope = gradient(rt, iteration - 1)["gradient"]
    before = weights(rt, iteration - 2) if problem["momentum"] and iteration >= 2 else theta
    return descend(problem, theta, before, slope)


# -- incremental ----------------------------------------------------------------------


@derived(version=VERSION)
def incremental_problem(rt: Runtime) -> Problem:
    """Coordinates, curvature and step of the exact mode, from the running statistics."""
    return problem_from_moments(statistics(rt), training_settings(rt))


@derived(version=VERSION)
def incremental_weights(rt: Runtime, iteration: int) -> np.ndarray:
    """Exact mode: the parameters after ``iteration`` steps."""
    return _step(rt, "incremental", iteration, incremental_problem(rt), incremental_weights, incremental_gradient)


@derived(version=VERSION)
def incremental_gradient(rt: Runtime, iteration: int) -> dict[str, Any]:
    """Exact mode: gradient and loss at iteration ``iteration``'s parameters, from the statistics."""
    problem = incremental_problem(rt)
    gradient, loss = exact_gradient(problem, incremental_weights(rt, iteration))
    return {"gradient": gradient, "loss": loss}


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
def naive_weights(rt: Runtime, iteration: int) -> np.ndarray:
    """Naive mode: the parameters after ``iteration`` steps."""
    return _step(rt, "naive", iteration, naive_problem(rt), naive_weights, naive_gradient)


@derived(version=VERSION)
def naive_gradient(rt: Runtime, iteration: int) -> dict[str, Any]:
    """Naive mode: gradient and loss at iteration ``iteration``'s parameters, over every row."""
    problem = naive_problem(rt)
    theta = naive_weights(rt, iteration)
    sums = np.zeros(len(theta) + 1)
    for number in range(1, batch_count(rt) + 1):
        X, y = batch(rt, number)
        sums += rows_gradient_sums(problem, theta, X, y)
    gradient, loss = gradient_from_sums(sums, problem["n"])
    return {"gradient": gradient, "loss": loss}


# -- delta ----------------------------------------------------------------------------


@derived(version=VERSION)
def delta_weights(rt: Runtime, iteration: int) -> np.ndarray:
    """Delta mode: the parameters after ``iteration`` steps (same coordinates and step as exact)."""
    return _step(rt, "delta", iteration, incremental_problem(rt), delta_weights, delta_gradient)


@derived(version=VERSION)
def delta_gradient(rt: Runtime, iteration: int) -> dict[str, Any]:
    """Delta mode: the previous residual sums plus the new batches' rows, and the error that leaves."""
    problem = incremental_problem(rt)
    theta = delta_weights(rt, iteration)
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
    return {"gradient": gradient, "loss": loss, "error": error, "sums": sums, "batches": count}


FUNCTIONS: dict[str, tuple[DerivedFunction, DerivedFunction, DerivedFunction]] = {
    "incremental": (incremental_problem, incremental_weights, incremental_gradient),
    "naive": (naive_problem, naive_weights, naive_gradient),
    "delta": (incremental_problem, delta_weights, delta_gradient),
}


# -- the loop -------------------------------------------------------------------------


def _descend_until_done(
    rt: Runtime, mode: str, settings: dict[str, Any], progress: Progress | None
) -> dict[str, Any]:
    """Bump the iteration until the update is below tolerance, the limit is hit, or the loss blows up."""
    problem_fn, weights_fn, gradient_fn = FUNCTIONS[mode]
    problem = problem_fn(rt)
    limit, tolerance = int(settings["max_iterations"]), float(settings["tolerance"])
    theta = weights_fn(rt, 0)
    losses: list[float] = []
    errors: list[float] = []
    iterations, converged = 0, False
    message = problem["diverges"]
    while True:
        point = gradient_fn(rt, iterations)
        loss = point["loss"]
        if not (math.isfinite(loss) and np.isfinite(point["gradient"]).all()):
            message = (
                f"the loss overflowed 64-bit floats at iteration {iterations}: the weights or the data are too "
                "large in magnitude; the model is the last iterate before that"
            )
            if iterations:
                iterations -= 1
                theta = weights_fn(rt, iterations)
            break
        losses.append(loss)
        if "error" in point:
            errors.append(point["error"])
        if progress is not None:
            progress(iterations, loss)
        if message is not None or converged or iterations == limit:
            break
        following = weights_fn(rt, iterations + 1)
        update = float(np.linalg.norm(following - theta))
        converged = update <= tolerance * max(float(np.linalg.norm(following)), problem["target_scale"])
        theta = following
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
    }


def train(rt: Runtime, mode: str, progress: Progress | None = None) -> dict[str, Any]:
    """Bring ``mode``'s model up to date with every batch so far and describe it (a plain dict).

    The whole loop is one unit of work (one load and one bulk write for a persistent store).
    If another process adds data meanwhile, the loop starts over at the newer revision.
    """
    if mode not in FUNCTIONS:
        raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
    for _ in range(3):
        with rt.unit_of_work():
            start = rt.storage.revision
            settings = training_settings(rt)
            if batch_count(rt) == 0:
                raise RegressionError("no rows yet: add a batch before training")
            result = _descend_until_done(rt, mode, settings, progress)
            if rt.storage.revision == start:
                return result
    return result
