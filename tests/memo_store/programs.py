"""Derived functions that the memo-store tests run, in the test process and in real worker processes.

They live in an importable module so that every process finds them under the same id.
Their bodies record each execution in the execution log (tests/execution_log.py), which
belongs to the process that runs them.
"""
from __future__ import annotations

import time

from runtime import declare_input, derived
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
