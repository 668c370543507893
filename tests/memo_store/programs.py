"""Derived functions that the memo-store tests run, in the test process and in real worker processes.

They live in an importable module so that every process finds them under the same id.
Their bodies record each execution in the execution log (tests/execution_log.py), which
belongs to the process that runs them.
"""
from __future__ import annotations

import time

from runtime import MISSING, MissingInputError, changes, declare_input, derived, previous_output
from tests.execution_log import log


@declare_input
def value(rt, i: int) -> float:
    """One cell of data."""


@declare_input
def size(rt) -> int:
    """How many cells ``total`` and ``slow_total`` read."""


@derived
def square(rt, i: int) -> float:
    log.add(("square", i))
    return value(rt, i) ** 2


@derived
def total(rt) -> float:
    log.add(("total",))
    return sum(square(rt, i) for i in range(size(rt)))


@derived
def slow_total(rt) -> float:
    """Like ``total`` but slow, so that input changes land in the middle of it."""
    log.add(("slow_total",))
    result = 0.0
    for i in range(size(rt)):
        time.sleep(0.002)
        result += square(rt, i)
    return result


@derived
def chain(rt, n: int) -> float:
    log.add(("chain", n))
    return value(rt, 0) if n == 0 else chain(rt, n - 1) + 1.0


@declare_input
def item(rt, k: int) -> float:
    """One keyed item that ``running_total`` sums."""


@declare_input
def count(rt) -> int:
    """How many items (``item(rt, 1..count)``) ``running_total`` sums."""


@derived
def running_total(rt) -> tuple[int, float]:
    """(count, sum of the items present among 1..count), maintained: all read once, then only changes and new keys.

    Logs ("running_total", changes) with each change as (function name, key, old, new), or
    None when it computed from scratch.
    """
    prev, delta = previous_output(rt), changes(rt)
    log.add(("running_total", None if delta is None else tuple((c.function.name, c.key, c.old, c.new) for c in delta)))
    n = count(rt)
    if prev is None or delta is None:
        return n, sum(_present(rt, k) for k in range(1, n + 1))
    seen, total = prev
    for c in delta:
        if c.function is item:
            total += (0.0 if c.new is MISSING else c.new) - (0.0 if c.old is MISSING else c.old)
    return n, total + sum(_present(rt, k) for k in range(seen + 1, n + 1))


def _present(rt, k: int) -> float:
    """``item(rt, k)``, or 0 if it has no value (it is still a dependency: setting it later is a change)."""
    try:
        return item(rt, k)
    except MissingInputError:
        return 0.0


@derived
def items(rt, n: int) -> tuple[float, ...]:
    """The items 1..n as one tuple (a reader that must see a transaction's writes all or none)."""
    return tuple(_present(rt, k) for k in range(1, n + 1))
