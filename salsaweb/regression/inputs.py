"""The runtime inputs of one dataset (each dataset has its own runtime namespace).

Batch ``k`` is set when it is accepted, together with ``batch_count`` (one revision,
``services.batch_create``); ``services.batch_replace`` sets it again and
``services.batch_delete`` deletes it (one revision each).  Numbers are never reused, so
``batch_count`` is the highest number ever given and a batch below it may be deleted:
every mode uses the batches 1..count that have a value, or the ``window`` highest-numbered
of them (``training_settings(rt).get("window")``, None for all), with the ridge penalty
``training_settings(rt).get("l2", 0.0)``.
"""
from __future__ import annotations

from runtime import declare_input


@declare_input
def batch(rt, number):
    """Batch ``number`` (1-based): ``(X, y)``, a rows x features float matrix and its target vector."""


@declare_input
def batch_count(rt):
    """The highest batch number given; batches 1..count were accepted (some may be deleted since)."""


@declare_input
def training_settings(rt):
    """The dataset's training settings (see ``services.dataset_settings``): a plain dict."""


@declare_input
def initial_model(rt, mode):
    """Where descent starts in ``mode``: ``(weights, bias)`` in the data's units, or None for zeros."""
