"""The runtime inputs of one dataset (each dataset has its own runtime namespace).

Batch ``k`` is set when it is accepted, together with ``batch_count`` (one revision,
``services.batch_create``).  The services only append, but ``statistics`` (and so the
incremental mode) follows a batch that is replaced or deleted later; the delta mode reads
only batches it has not yet seen, and the naive mode needs every batch 1..count set.
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
