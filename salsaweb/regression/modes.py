"""The training modes, defined once, and the one check of a mode's name.

Every other module takes the modes from here: the models' choices, the API's and the
dashboard's choice fields, the OpenAPI ``ModeEnum`` (``SPECTACULAR_SETTINGS``) and the
training functions.  Modes travel as plain strings (runtime keys and JSON need them so);
``Mode`` members are strings too, but ``Mode.values`` are the plain ones.
"""
from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import models


class Mode(models.TextChoices):
    """How a dataset's model is brought up to date with new batches."""

    INCREMENTAL = "incremental", "incremental (exact, from sufficient statistics)"
    NAIVE = "naive", "naive (every iteration over all rows)"
    DELTA = "delta", "delta (the seed's approximate incremental gradient)"


#: The modes a new dataset trains unless told otherwise.
DEFAULT_MODES: tuple[str, ...] = (Mode.INCREMENTAL.value, Mode.NAIVE.value)


def mode_check(mode: object, *, among: Sequence[str] | None = None) -> str:
    """``mode`` as a plain string if it is a mode (and one of ``among``, a dataset's modes, if given).

    Otherwise a ValidationError on the ``mode`` field, the one error for a bad mode.
    """
    if mode not in Mode.values:
        raise ValidationError({"mode": f"unknown mode {mode!r}: expected one of {', '.join(Mode.values)}"})
    if among is not None and mode not in among:
        raise ValidationError({"mode": f"this dataset trains {', '.join(among)}, not {mode}"})
    return str(mode)
