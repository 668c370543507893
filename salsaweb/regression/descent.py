"""Descent on (ridge) least squares, as pure functions of the sufficient statistics.

Training works in *optimization coordinates*: each feature is shifted and scaled,
``z = (x - shift) / scale``, and the model is ``z . v + c``.  With ``standardize`` on,
shift and scale are the feature means and standard deviations over all rows seen, which
turns a badly conditioned problem (features of very different spread, a large mean, the
bias coupled to every weight) into one whose curvature is the feature correlation matrix.
This is a reparametrization, not an approximation: every ``(v, c)`` is exactly one
``(w, b)`` in original units and has the same loss, so the optimum is the same.  With
``standardize`` off, shift is 0 and scale 1 and descent runs on the raw weights, as in
the seed.

The loss is the mean squared error plus the ridge penalty (setting ``l2``, default 0),
``(1/n) sum (x . w + b - y)^2 + l2 sum_j (s_j w_j)^2``, where ``s_j`` is feature j's
standard deviation over the rows used: the penalty is on the weights *in standardized
units* (so it does not depend on the columns' units, nor on the ``standardize`` setting)
and never on the bias; it is ``l2 ||v||^2`` when ``standardize`` is on.  The optimum is
sklearn's ``Ridge(alpha = n * l2)`` on standardized features, mapped back.  In
optimization coordinates, with ``R`` the covariance of ``z`` plus the penalty's diagonal
``l2 (s / scale)^2``, ``q`` the covariance of ``z`` with ``y``, ``zbar`` the mean of ``z``
and ``e = c + zbar . v - mean_y`` (the mean residual)::

    loss(v, c) = v^T R v - 2 q^T v + var_y + e^2
    grad_v     = 2 (R v - q) + 2 e zbar,        grad_c = 2 e
    Hessian    = 2 [[R + zbar zbar^T, zbar], [zbar^T, 1]]

so gradient and loss cost O(features^2) whatever the number of rows.  ``loss`` everywhere
(curves, the optimum's) is this penalized objective.

With ``learning_rate`` and ``momentum`` both "auto" (the defaults) the method is
*conjugate gradients* on this quadratic (``training._step``): each iteration searches
exactly along a direction conjugate to the previous ones (``line_search``: the step
``-g.d / d.H d``, exact because the loss is quadratic and ``H`` is known from the
statistics; ``conjugate``: Polak-Ribiere with restarts).  In exact arithmetic that
reaches the optimum in at most ``features + 1`` iterations, and standardization is its
preconditioner; an iteration never increases the loss (a step that would, through
rounding, is retried along steepest descent or not taken).

Otherwise the step is heavy-ball, fixed (``learning_rate``) or "auto": from the Hessian's extreme
eigenvalues ``L`` and ``mu`` (both known exactly from the statistics), the optimal
heavy-ball (momentum) parameters ``alpha = 4 / (sqrt L + sqrt mu)^2`` and
``beta = ((sqrt L - sqrt mu) / (sqrt L + sqrt mu))^2``, which converge on any quadratic at
the rate ``(sqrt k - 1) / (sqrt k + 1)`` per iteration (``k = L / mu``); with momentum 0,
the optimal plain step ``2 / (L + mu)``.  Curvatures flatter than the iteration limit
can resolve (``mu < L (7 / max_iterations)^2``, such as the null directions of
collinear features) are left out of ``mu``: those directions could not converge within
the limit anyway, and counting them would slow down all the others.

Every value here is a plain dict of floats, tuples and numpy arrays, so it can be memoized
in the runtime's store.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .moments import Moments

#: A feature whose spread is below this fraction of its magnitude is treated as constant.
CONSTANT_SPREAD = 1e-10
#: Correlation-matrix eigenvalues below this fraction of the largest are null: collinear features.
COLLINEAR_EIGENVALUE = 1e-10

Problem = dict[str, Any]


class RegressionError(ValueError):
    """Data or settings a model cannot be trained on; the message says why and what to do."""


def _describe_collinear(corr: np.ndarray, names: tuple[str, ...], active: np.ndarray) -> list[str]:
    """Name the groups of (non-constant) features that are linear combinations of each other."""
    idx = np.flatnonzero(active)
    if idx.size < 2:
        return []
    sub = corr[np.ix_(idx, idx)]
    values, vectors = np.linalg.eigh(sub)
    top = max(values[-1], 0.0)
    groups = []
    for value, vector in zip(values, vectors.T):
        if value > top * COLLINEAR_EIGENVALUE:
            break
        members = [names[idx[i]] for i in np.flatnonzero(np.abs(vector) > 0.1)]
        groups.append(
            f"features {', '.join(map(repr, members))} are collinear (one is a linear combination of the "
            "others): their individual weights are not determined by the data; descent keeps the "
            "undetermined part at its initial value and the optimum takes the smallest weights"
        )
    return groups


def _standardized(moments: Moments, p: int) -> dict[str, Any]:
    """Means, covariances and correlations from the statistics; constant features flagged, not divided by."""
    n = int(moments["n"])
    if n == 0:
        raise RegressionError("no rows yet: add a batch before training")
    mean, cov = moments["mean"], moments["m2"] / n
    if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
        raise RegressionError(
            "the data's sums of squares overflow 64-bit floats: rescale the columns (e.g. to other units)"
        )
    mean_x = mean[:p]
    spread = np.sqrt(np.clip(np.diag(cov[:p, :p]), 0.0, None))
    constant = (spread <= CONSTANT_SPREAD * np.abs(mean_x)) | (spread == 0.0)
    spread = np.where(constant, 1.0, spread)
    corr = cov[:p, :p] / np.outer(spread, spread)
    corr[constant, :] = 0.0
    corr[:, constant] = 0.0
    return {
        "n": n, "mean_x": mean_x, "mean_y": float(mean[p]), "cov_xx": cov[:p, :p], "cov_xy": cov[:p, p],
        "var_y": float(cov[p, p]), "spread": spread, "constant": constant, "corr": corr,
    }


def _optimum(data: dict[str, Any], l2: float) -> dict[str, Any]:
    """The (ridge) least-squares optimum (weights, bias, objective), solved in standardized coordinates.

    With ``l2`` = 0, collinear features make it non-unique: the pseudo-inverse picks the
    smallest standardized weights.  Constant features get weight 0.
    """
    R, spread, constant = data["corr"], data["spread"], data["constant"]
    q = np.where(constant, 0.0, data["cov_xy"] / spread)
    values, vectors = np.linalg.eigh(R)
    keep = values > max(values[-1], 0.0) * COLLINEAR_EIGENVALUE
    v = vectors[:, keep] @ ((vectors[:, keep].T @ q) / (values[keep] + l2))
    weights = v / spread
    bias = float(data["mean_y"] - data["mean_x"] @ weights)
    loss = max(float(v @ R @ v + l2 * (v @ v) - 2.0 * q @ v + data["var_y"]), 0.0)
    return {"weights": weights, "bias": bias, "loss": loss}


def problem_from_moments(moments: Moments, settings: dict[str, Any]) -> Problem:
    """Everything training needs from the data: coordinates, curvature, step, diagnostics, optimum."""
    names = tuple(settings["features"])
    p = len(names)
    l2 = float(settings.get("l2", 0.0))
    data = _standardized(moments, p)
    n, mean_x, mean_y, var_y = data["n"], data["mean_x"], data["mean_y"], data["var_y"]
    cov_xx, cov_xy, constant, corr = data["cov_xx"], data["cov_xy"], data["constant"], data["corr"]

    warnings = [
        f"feature {names[j]!r} is constant over all rows ({float(mean_x[j]):.6g}): its weight cannot be "
        "learned and stays at its initial value; the bias absorbs its effect"
        for j in np.flatnonzero(constant)
    ]
    if l2 == 0.0:
        warnings += _describe_collinear(corr, names, ~constant)

    if settings["standardize"]:
        shift, scale = mean_x.copy(), data["spread"]
        R, zbar = corr, np.zeros(p)
    else:
        shift, scale = np.zeros(p), np.ones(p)
        R, zbar = cov_xx.copy(), mean_x.copy()
        R[constant, :] = 0.0
        R[:, constant] = 0.0
    penalty = np.where(constant, 0.0, l2 * (data["spread"] / scale) ** 2)
    R = R + np.diag(penalty)
    q = cov_xy / scale
    q[constant] = 0.0
    half_hessian = np.empty((p + 1, p + 1))
    half_hessian[:p, :p] = R + np.outer(zbar, zbar)
    half_hessian[:p, p] = zbar
    half_hessian[p, :p] = zbar
    half_hessian[p, p] = 1.0
    eigenvalues = 2.0 * np.linalg.eigvalsh(half_hessian)
    top = float(eigenvalues[-1])
    floor = top * (7.0 / max(int(settings["max_iterations"]), 7)) ** 2
    curved = eigenvalues[eigenvalues > top * COLLINEAR_EIGENVALUE]
    flattest = float(curved[0]) if curved.size else top
    mu = max(flattest, floor)

    rate, momentum = settings["learning_rate"], settings["momentum"]
    method = "conjugate-gradient" if rate == "auto" and momentum == "auto" else "heavy-ball"
    if momentum == "auto":
        momentum = None if rate == "auto" else 0.0
    if rate == "auto":
        if momentum is None:
            root_l, root_mu = math.sqrt(top), math.sqrt(mu)
            rate = 4.0 / (root_l + root_mu) ** 2
            momentum = ((root_l - root_mu) / (root_l + root_mu)) ** 2
        else:
            rate = 2.0 * (1.0 + momentum) / (top + mu)
    rate, momentum = float(rate), float(momentum)
    limit = 2.0 * (1.0 + momentum) / top
    diverges = None
    if method == "heavy-ball" and rate >= limit:
        diverges = (
            f"learning rate {rate:.6g} diverges on this data: with momentum {momentum:.6g} the step must be "
            f"below 2(1 + momentum) / L = {limit:.6g}, where L = {top:.6g} is the largest curvature of the "
            "loss; use a smaller rate or 'auto'"
        )
    return {
        "n": n,
        "features": names,
        "shift": shift,
        "scale": scale,
        "zbar": zbar,
        "R": R,
        "q": q,
        "penalty": penalty,
        "hessian": 2.0 * half_hessian,
        "method": method,
        "mean_y": mean_y,
        "var_y": var_y,
        "target_scale": math.sqrt(var_y + mean_y * mean_y),
        "constant": tuple(bool(c) for c in constant),
        "curvature": (top, flattest),
        "learning_rate": rate,
        "momentum": momentum,
        "stable_limit": limit,
        "diverges": diverges,
        "warnings": tuple(warnings),
        "optimum": _optimum(data, l2),
    }


def feature_spread(problem: Problem) -> np.ndarray:
    """Each feature's standard deviation over the rows used (0 for a constant one), recovered from the problem.

    In both coordinate systems the diagonal of ``R`` less the penalty is the variance of ``z``
    (1 standardized, the feature's variance raw), so ``scale x sqrt(that)`` is the spread.
    """
    variance = np.clip(np.diag(problem["R"]) - problem["penalty"], 0.0, None)
    return np.where(np.asarray(problem["constant"]), 0.0, problem["scale"] * np.sqrt(variance))


def to_original(problem: Problem, theta: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights and bias in the data's units from parameters in optimization coordinates."""
    weights = theta[:-1] / problem["scale"]
    return weights, float(theta[-1] - problem["shift"] @ weights)


def from_original(problem: Problem, weights: np.ndarray, bias: float) -> np.ndarray:
    """Parameters in optimization coordinates for weights and bias in the data's units."""
    theta = np.empty(len(weights) + 1)
    theta[:-1] = weights * problem["scale"]
    theta[-1] = bias + problem["shift"] @ weights
    return theta


def exact_gradient(problem: Problem, theta: np.ndarray) -> tuple[np.ndarray, float]:
    """Gradient and loss at ``theta`` from the statistics alone: O(features^2)."""
    v, c = theta[:-1], theta[-1]
    zbar = problem["zbar"]
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as a non-finite loss
        Rv = problem["R"] @ v
        e = c + zbar @ v - problem["mean_y"]
        gradient = np.empty_like(theta)
        gradient[:-1] = 2.0 * (Rv - problem["q"]) + (2.0 * e) * zbar
        gradient[-1] = 2.0 * e
        loss = float(v @ Rv - 2.0 * (problem["q"] @ v) + problem["var_y"] + e * e)
    return gradient, max(loss, 0.0) if math.isfinite(loss) else math.inf


def residual_sums(Z: np.ndarray, y: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    """``[sum z r, sum r, sum r^2]`` over rows ``Z`` with residuals ``r = Z . weights + bias - y``."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as a non-finite loss
        r = Z @ weights + (bias - y)
        sums = np.empty(Z.shape[1] + 2)
        sums[:-2] = r @ Z
        sums[-2] = r.sum()
        sums[-1] = r @ r
    return sums


def rows_gradient_sums(problem: Problem, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Residual sums of one batch in optimization coordinates, at ``theta``."""
    return residual_sums((X - problem["shift"]) / problem["scale"], y, theta[:-1], float(theta[-1]))


def gradient_from_sums(problem: Problem, theta: np.ndarray, sums: np.ndarray) -> tuple[np.ndarray, float]:
    """Gradient and objective at ``theta`` from optimization-coordinate residual sums over all rows, plus the ridge
    penalty ``v^T diag(penalty) v``."""
    n, v, penalty = problem["n"], theta[:-1], problem["penalty"]
    gradient = (2.0 / n) * sums[:-1]
    gradient[:-1] += 2.0 * penalty * v
    return gradient, float(sums[-1] / n + v @ (penalty * v))


def gradient_from_raw_sums(problem: Problem, theta: np.ndarray, sums: np.ndarray) -> tuple[np.ndarray, float]:
    """Gradient and objective from residual sums taken in the data's units (``z`` replaced by ``x``)."""
    converted = sums.copy()
    converted[:-2] = (sums[:-2] - problem["shift"] * sums[-2]) / problem["scale"]
    return gradient_from_sums(problem, theta, converted)


def descend(problem: Problem, theta: np.ndarray, before: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """One heavy-ball step: ``theta - rate * gradient + momentum * (theta - before)``."""
    step = theta - problem["learning_rate"] * gradient
    if problem["momentum"]:
        step += problem["momentum"] * (theta - before)
    return step


def line_search(problem: Problem, point: dict[str, Any]) -> float:
    """The step length that minimizes the (quadratic) loss exactly along ``point``'s direction; 0 if none lowers it."""
    direction = point["direction"]
    # Along the direction scaled to a largest entry of 1, so that the curvature of data in raw
    # units near the value limit stays finite (d . H . d itself would overflow there).
    scale = float(np.max(np.abs(direction))) if direction.size else 0.0
    if not (scale > 0.0 and math.isfinite(scale)):
        return 0.0
    unit = direction / scale
    slope = float(point["gradient"] @ unit)
    curvature = float(unit @ (problem["hessian"] @ unit))
    if not (slope < 0.0 and curvature > 0.0 and math.isfinite(slope) and math.isfinite(curvature)):
        return 0.0
    return -slope / curvature / scale


def conjugate(point: dict[str, Any], gradient: np.ndarray) -> tuple[np.ndarray, float]:
    """The next conjugate direction (Polak-Ribiere, restarted at steepest descent when not a descent direction)."""
    old = point["gradient"]
    norm = float(old @ old)
    beta = max(float(gradient @ (gradient - old)) / norm, 0.0) if norm > 0.0 else 0.0
    direction = beta * point["direction"] - gradient
    if not float(direction @ gradient) < 0.0:
        return -gradient, 0.0
    return direction, beta
