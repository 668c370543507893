"""The runtime inputs of one dataset (each dataset has its own runtime namespace).

Batches are append-only: batch ``k`` is set once, when it is accepted, and never changed;
the incremental functions rely on that (they read only batches they have not yet seen).
"""
from __future__ import annotations

from runtime import declare_input


@declare_input
def batch(rt, number):
    """Batch ``number`` (1-based): ``(X, y)``, a rows x features float matrix and its target vector."""


@declare_input
def batch_count(rt):
    """How many batches have been accepted; batches 1..count exist."""


@declare_input
def training_settings(rt):
    """The dataset's training settings (see ``services.dataset_settings``): a plain dict."""


@declare_input
def initial_model(rt, mode):
    """Where descent starts in ``mode``: ``(weights, bias)`` in the data's units, or None for zeros."""
