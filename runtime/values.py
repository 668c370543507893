"""Values: when is a recomputed value "the same" as the old one, and how memos stay immutable.

The rule is "indistinguishable to a dependent": same type, same structure, same bits,
except that every NaN equals every NaN.  So ``-0.0`` differs from ``0.0`` (``1/x``
tells them apart), ``1`` differs from ``1.0`` and ``True``, and numpy arrays are equal
when dtype, shape and contents match under the same rule.  Dicts are equal when their
items are, in the same order, keys included (iteration order is visible to a dependent).  When in doubt (an object whose
``==`` raises or does not return a bool) values are unequal: an unneeded re-execution is
only slower, a wrong cutoff would be incorrect.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def _floats_equal(a: float, b: float) -> bool:
    if a == b:
        return a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b)
    return a != a and b != b


def _arrays_equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    kind = a.dtype.kind
    if kind in "fc":
        same = a == b
        if kind == "f":
            same &= np.signbit(a) == np.signbit(b)
        else:
            same &= (np.signbit(a.real) == np.signbit(b.real)) & (np.signbit(a.imag) == np.signbit(b.imag))
        return bool(np.all(same | (np.isnan(a) & np.isnan(b))))
    if kind == "O":
        return all(values_equal(x, y) for x, y in zip(a.ravel(), b.ravel()))
    return bool(np.array_equal(a, b))


def values_equal(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same value under the module's rule."""
    if a is b:
        return True
    t = type(a)
    if t is not type(b):
        return False
    if t is float:
        return _floats_equal(a, b)
    if t is tuple or t is list:
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if t is dict:
        return len(a) == len(b) and all(
            values_equal(ka, kb) and values_equal(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items())
        )
    if t is np.ndarray:
        return _arrays_equal(a, b)
    if isinstance(a, np.generic):
        return _arrays_equal(np.asarray(a), np.asarray(b))
    try:
        result = a == b
    except Exception:
        return False
    return result if type(result) is bool else False


def freeze(value: Any, copy: bool = False) -> Any:
    """Make numpy arrays inside ``value`` read-only so that no caller can mutate a memo.

    With ``copy`` (for input values, which the caller still holds) arrays and the
    containers around them are copied first, so later changes to the caller's objects
    cannot reach the store either.
    """
    t = type(value)
    if t is np.ndarray:
        if copy:
            value = value.copy()
        value.flags.writeable = False
    elif t is tuple or t is list:
        items = [freeze(v, copy) for v in value]
        if copy:
            value = t(items)
    elif t is dict:
        items = {k: freeze(v, copy) for k, v in value.items()}
        if copy:
            value = items
    return value
