"""The three training modes as derived functions with an unrolled ``iteration`` argument, and the loop.

As in the Salsa.jl example this comes from, each iteration's weights are a memoized
value computed from the previous iteration's weights and gradient: ``<mode>_step(rt, i)``
reads ``<mode>_step(rt, i - 1)``, takes one step from its weights (conjugate gradients
by default, heavy-ball with a fixed rate or momentum, see ``descent``), and returns the
new weights together with the gradient, loss and next search direction at them (one memo
per iteration rather than two halves what the store writes and loads).  ``train`` bumps
``i`` until the update is small (``||update|| <= tolerance x max(||weights||, rms(y))``
in optimization coordinates) or the iteration limit is reached; a model that stops at
the limit carries a warning (and ``message``) saying why and what to change.  Each mode
has its own functions, so its memos are stored, loaded and counted apart from the
others'.  Every mode uses the same rows: batches ``1 .. batch_count`` that have a value
(a deleted batch is skipped), or with ``window`` = K the K highest-numbered of them.

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
  loss of its iterates, so the curves of all modes compare.  Its old residual sums
  cannot follow a batch that was replaced or deleted (or dropped by the window): then it
  starts over from the current rows and its run's warnings say so.
- ``incremental``: exact.  Gradient and loss come from the maintained statistics
  (``statistics``: per-batch statistics merged through a tree) in O(features^2), so a
  batch appended, replaced or deleted costs O(its rows x features^2 + log(batches) x
  features^2) plus O(features^2 x iterations), whatever the total; its iterates equal
  ``naive``'s up to rounding.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np

from runtime import DerivedFunction, MissingInputError, Runtime, derived, previous_output

from .descent import (
    Problem,
    RegressionError,
    conjugate,
    descend,
    exact_gradient,
    feature_spread,
    from_original,
    gradient_from_raw_sums,
    gradient_from_sums,
    line_search,
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
#: ``gradient_at(theta) -> (gradient, loss)``: how a mode evaluates the objective.
GradientAt = Callable[[np.ndarray], tuple[np.ndarray, float]]


def _start(rt: Runtime, mode: str, problem: Problem) -> np.ndarray:
    """Iteration 0's weights: the mode's initial model (zeros unless set) in optimization coordinates."""
    start = initial_model(rt, mode)
    if start is None:
        return np.zeros(len(problem["features"]) + 1)
    weights, bias = start
    return from_original(problem, np.asarray(weights, dtype=np.float64), float(bias))


def _step(
    rt: Runtime, mode: str, iteration: int, problem: Problem, step: DerivedFunction, gradient_at: GradientAt
) -> dict[str, Any]:
    """Iteration ``iteration`` of an exact mode: its weights, and the gradient, loss and next direction there.

    Conjugate gradients when the problem says so: an exact line search along the previous
    iteration's direction, kept only if the loss does not increase; if it would, the search
    is retried along steepest descent, and if that fails too the weights stay, which ends
    the loop as converged (only rounding is left).  Otherwise one heavy-ball step.
    """
    if iteration == 0:
        theta = _start(rt, mode, problem)
        gradient, loss = gradient_at(theta)
        return {"theta": theta, "before": theta, "gradient": gradient, "loss": loss, "direction": -gradient,
                "alpha": 0.0, "beta": 0.0}
    previous = step(rt, iteration - 1)
    if problem["method"] == "heavy-ball":
        theta = descend(problem, previous["theta"], previous["before"], previous["gradient"])
        gradient, loss = gradient_at(theta)
        return {"theta": theta, "before": previous["theta"], "gradient": gradient, "loss": loss,
                "direction": -gradient, "alpha": problem["learning_rate"], "beta": problem["momentum"]}
    steepest = {**previous, "direction": -previous["gradient"]}
    for start in (previous, steepest) if previous["beta"] else (previous,):
        alpha = line_search(problem, start)
        if alpha > 0.0:
            theta = start["theta"] + alpha * start["direction"]
            gradient, loss = gradient_at(theta)
            if loss <= start["loss"]:
                direction, beta = conjugate(start, gradient)
                return {"theta": theta, "before": start["theta"], "gradient": gradient, "loss": loss,
                        "direction": direction, "alpha": alpha, "beta": beta}
    return {**steepest, "before": previous["theta"], "alpha": 0.0, "beta": 0.0}


def _weights(
    rt: Runtime, mode: str, iteration: int, problem: Problem, step: DerivedFunction
) -> tuple[np.ndarray, np.ndarray]:
    """Iteration ``iteration``'s heavy-ball weights, and the previous iteration's, from the previous step."""
    if iteration == 0:
        theta = _start(rt, mode, problem)
        return theta, theta
    previous = step(rt, iteration - 1)
    return descend(problem, previous["theta"], previous["before"], previous["gradient"]), previous["theta"]


def _existing(rt: Runtime, numbers: range) -> list[tuple[np.ndarray, np.ndarray]]:
    """The values of the batches among ``numbers`` that have one (a deleted batch is skipped)."""
    found = []
    for number in numbers:
        try:
            found.append(batch(rt, number))
        except MissingInputError:
            continue
    return found


def _window(rt: Runtime) -> list[tuple[np.ndarray, np.ndarray]]:
    """The batches training uses, read one by one: all that exist, or the ``window`` highest-numbered of them."""
    window = training_settings(rt).get("window")
    found = _existing(rt, range(batch_count(rt), 0, -1))
    if window is not None:
        found = found[: max(int(window), 0)]
    return found[::-1]


# -- incremental ----------------------------------------------------------------------


@derived(version=VERSION)
def incremental_problem(rt: Runtime) -> Problem:
    """Coordinates, curvature and step of the exact mode, from the maintained statistics."""
    return problem_from_moments(statistics(rt), training_settings(rt))


@derived(version=VERSION)
def incremental_step(rt: Runtime, iteration: int) -> dict[str, Any]:
    """Exact mode: weights after ``iteration`` steps, and the gradient and loss there, from the statistics."""
    problem = incremental_problem(rt)
    return _step(rt, "incremental", iteration, problem, incremental_step, lambda theta: exact_gradient(problem, theta))


# -- naive ----------------------------------------------------------------------------


@derived(version=VERSION)
def naive_problem(rt: Runtime) -> Problem:
    """Coordinates, curvature and step of the naive mode, from two passes over the rows of every batch used."""
    settings = training_settings(rt)
    rows = _window(rt)
    p = len(settings["features"])
    n, total = 0, np.zeros(p + 1)
    for X, y in rows:
        n += len(y)
        total[:p] += X.sum(axis=0)
        total[p] += y.sum()
    mean = total / max(n, 1)
    m2 = np.zeros((p + 1, p + 1))
    for X, y in rows:
        centred = np.empty((len(y), p + 1))
        centred[:, :p] = X - mean[:p]
        centred[:, p] = y - mean[p]
        m2 += centred.T @ centred
    return problem_from_moments({"n": n, "mean": mean, "m2": m2}, settings)


@derived(version=VERSION)
def naive_step(rt: Runtime, iteration: int) -> dict[str, Any]:
    """Naive mode: weights after ``iteration`` steps, and the gradient and loss there, over every row used."""
    problem = naive_problem(rt)

    def gradient_at(theta: np.ndarray) -> tuple[np.ndarray, float]:
        sums = np.zeros(len(theta) + 1)
        for X, y in _window(rt):
            sums += rows_gradient_sums(problem, theta, X, y)
        return gradient_from_sums(problem, theta, sums)

    return _step(rt, "naive", iteration, problem, naive_step, gradient_at)


# -- delta ----------------------------------------------------------------------------


@derived(version=VERSION)
def delta_problem(rt: Runtime) -> Problem:
    """The exact mode's coordinates and curvature, with plain (momentum-free) descent as in the seed, and which
    batches the statistics cover (``first``, ``batches``) after how many changes to old ones (``edits``)."""
    stats = statistics(rt)
    problem = problem_from_moments(stats, {**training_settings(rt), "momentum": 0.0})
    return {**problem, "first": stats["first"], "edits": stats["edits"]}


@derived(version=VERSION)
def delta_step(rt: Runtime, iteration: int) -> dict[str, Any]:
    """Delta mode: weights after ``iteration`` steps; gradient = previous residual sums + the new batches' rows.

    The previous sums are stale when a batch they cover was replaced or deleted or the
    window dropped one; then it starts over from the current rows (``restarted``).
    """
    problem = delta_problem(rt)
    theta, before = _weights(rt, "delta", iteration, problem, delta_step)
    count = batch_count(rt)
    previous = previous_output(rt)
    restarted = previous is not None and (
        previous["batches"] > count or previous["edits"] != problem["edits"] or previous["first"] != problem["first"]
    )
    if previous is None or restarted:
        sums, first = np.zeros(len(theta) + 1), problem["first"]
    else:
        sums, first = previous["sums"].copy(), previous["batches"] + 1
    weights, bias = to_original(problem, theta)
    for X, y in _existing(rt, range(first, count + 1)):
        sums += residual_sums(X, y, weights, bias)
    gradient, _ = gradient_from_raw_sums(problem, theta, sums)
    exact, loss = exact_gradient(problem, theta)
    error = float(np.linalg.norm(gradient - exact) / max(float(np.linalg.norm(exact)), np.finfo(float).tiny))
    return {"theta": theta, "before": before, "gradient": gradient, "loss": loss, "error": error, "sums": sums,
            "batches": count, "first": problem["first"], "edits": problem["edits"], "restarted": restarted}


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
    began = perf_counter()
    problem_fn, step_fn = FUNCTIONS[mode]
    problem = problem_fn(rt)
    limit, tolerance = int(settings["max_iterations"]), float(settings["tolerance"])
    losses: list[float] = []
    elapsed: list[float] = []
    errors: list[float] = []
    restarted = False
    update = math.inf
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
        elapsed.append((perf_counter() - began) * 1e3)
        if "error" in point:
            errors.append(point["error"])
            restarted = restarted or point["restarted"]
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
    warnings = list(problem["warnings"])
    if restarted:
        warnings.append(
            "a batch this mode had already used was replaced or deleted, or the window dropped one: the delta "
            "mode's stored residual sums no longer matched the data, so it started over from the current rows"
        )
    if not converged and message is None:
        warnings.append(_not_converged(mode, problem, iterations, update, tolerance, errors))
    cg = problem["method"] == "conjugate-gradient"
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
        "message": message if message is not None else ("" if converged else warnings[-1]),
        "loss": losses[-1] if losses else None,
        "losses": losses,
        "elapsed_ms": elapsed,
        "gradient_errors": errors if mode == "delta" else None,
        "learning_rate": float(point["alpha"]) if cg else problem["learning_rate"],
        "momentum": float(point["beta"]) if cg else problem["momentum"],
        "method": problem["method"],
        "warnings": warnings,
        "optimum": problem["optimum"],
        "spread": feature_spread(problem),
        "target_spread": math.sqrt(max(problem["var_y"], 0.0)),
    }


def _not_converged(
    mode: str, problem: Problem, iterations: int, update: float, tolerance: float, errors: list[float]
) -> str:
    """Why a model stopped at the iteration limit, and what to change."""
    top, flattest = problem["curvature"]
    said = (
        f"not converged: stopped at the iteration limit ({iterations}) with the last update {update:.3g} "
        f"above the tolerance {tolerance:.3g} (relative); the weights are not yet the least-squares answer. "
    )
    if mode == "delta":
        worst = max(errors) if errors else 0.0
        return said + (
            f"The delta mode's gradient is approximate (relative error up to {worst:.3g}) and its steps are plain "
            "gradient descent: use the incremental mode for the exact model, or raise max_iterations."
        )
    if problem["method"] == "heavy-ball":
        return said + (
            f"A fixed learning rate or momentum converges slowly here (curvature ratio {top / flattest:.3g}): "
            "set learning_rate and momentum to auto (conjugate gradients), or raise max_iterations."
        )
    ratio = top / flattest
    if ratio < 1e3:  # well conditioned: conjugate gradients needs about one step per feature
        return said + f"Raise max_iterations (conjugate gradients needs about {len(problem['hessian'])} here)."
    standardized = bool(np.any(np.asarray(problem["shift"]) != 0.0) or np.any(np.asarray(problem["scale"]) != 1.0))
    advice = "raise max_iterations, or add an l2 penalty" if standardized else (
        "turn standardize on, raise max_iterations, or add an l2 penalty")
    return said + f"The problem is badly conditioned (curvature ratio {ratio:.3g}): {advice}."


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
