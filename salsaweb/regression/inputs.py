"""The runtime inputs of one dataset (each dataset has its own runtime namespace).

Batch ``k`` is set when it is accepted, together with ``batch_count`` (one revision,
``services.batch_create``); ``services.batch_replace`` sets it again and
``services.batch_delete`` deletes it (one revision each).  A batch is two inputs, always
written together by ``batch_put`` and ``batch_remove``: its rows (``batch``, which the naive
and delta modes read) and their sufficient statistics (``batch_moments``, computed once when
the rows are stored), so that the statistics tree, and with it the incremental mode, never
reads a batch's rows back from the store.  Numbers are never reused, so
``batch_count`` is the highest number ever given and a batch below it may be deleted:
every mode uses the batches 1..count that have a value, or the ``window`` highest-numbered
of them (``training_settings(rt).get("window")``, None for all), with the ridge penalty
``training_settings(rt).get("l2", 0.0)``.
"""
from __future__ import annotations

import numpy as np

from runtime import Runtime, declare_input

from .moments import Moments, moments_of


@declare_input
def batch(rt, number):
    """Batch ``number`` (1-based): ``(X, y)``, a rows x features float matrix and its target vector."""


@declare_input
def batch_moments(rt, number):
    """Batch ``number``'s statistics, ``moments.moments_of`` of its rows: set and deleted with ``batch``."""


def batch_put(rt: Runtime, number: int, rows: tuple[np.ndarray, np.ndarray], moments: Moments | None = None) -> None:
    """Store batch ``number``'s ``rows`` ``(X, y)`` and their statistics, in one revision (the caller's, inside a
    transaction); ``moments`` are those statistics if the caller computed them already (before taking a lock)."""
    if moments is None:
        moments = moments_of(*rows)
    if moments["n"] != len(rows[1]):
        raise ValueError(f"batch {number}: statistics of {moments['n']} rows given for {len(rows[1])} rows")
    with rt.transaction():
        batch.set(rt, number, rows)
        batch_moments.set(rt, number, moments)


def batch_remove(rt: Runtime, number: int) -> None:
    """Delete batch ``number``'s rows and statistics, in one revision."""
    with rt.transaction():
        batch.delete(rt, number)
        batch_moments.delete(rt, number)


@declare_input
def batch_count(rt):
    """The highest batch number given; batches 1..count were accepted (some may be deleted since)."""


@declare_input
def training_settings(rt):
    """The dataset's training settings (see ``services.dataset_settings``): a plain dict."""


@declare_input
def initial_model(rt, mode):
    """Where descent starts in ``mode``: ``(weights, bias)`` in the data's units, or None for zeros."""
