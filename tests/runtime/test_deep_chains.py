"""Dependency chains deeper than the Python stack allows (spec: semantics 9).

Executions nested deeper than ``rt.max_depth`` are suspended and restarted on a fresh
stack; these tests pin that results, re-verification and cycle reports are unaffected.
"""
from __future__ import annotations

import pytest

from runtime import CycleError, declare_input, derived
from tests.execution_log import assert_log, log

DEPTH = 10_000


@declare_input
def base(rt) -> int:
    """The value at the bottom of ``chain``."""


@declare_input
def generation(rt) -> int:
    """Read first by every ``fresh_chain`` level, so a change re-executes all of them."""


@declare_input
def unrelated(rt) -> int:
    """Read by nothing in the chains."""


@declare_input
def ring_size(rt) -> int:
    """Where ``ring(rt, 0)`` jumps back to."""


@derived
def chain(rt, n: int) -> int:
    log.add(n)
    if n == 0:
        return base(rt)
    return chain(rt, n - 1) + 1


@derived
def fresh_chain(rt, n: int) -> int:
    log.add(n)
    g = generation(rt)
    if n == 0:
        return g
    return fresh_chain(rt, n - 1) + 1


class Bottom(Exception):
    """Raised at the bottom of ``guarded``."""


@declare_input
def handler_at(rt) -> int:
    """The level of ``guarded`` that catches ``Bottom``."""


@derived
def guarded(rt, n: int) -> int:
    if n == 0:
        raise Bottom("bottom reached")
    if n == handler_at(rt):
        try:
            return guarded(rt, n - 1)
        except Bottom:
            return -1
    return guarded(rt, n - 1) + 1


@derived
def ring(rt, n: int) -> int:
    if n == 0:
        return ring(rt, ring_size(rt))
    return ring(rt, n - 1)


def test_chain_of_10000_computes_without_recursion_error(rt):
    base.set(rt, 7)
    assert chain(rt, DEPTH) == DEPTH + 7
    assert rt.counters.executions == DEPTH + 1
    assert set(log.take()) == set(range(DEPTH + 1))


def test_chain_of_10000_is_then_all_memo_hits(rt):
    base.set(rt, 0)
    chain(rt, DEPTH)
    log.clear()
    assert [chain(rt, n) for n in (DEPTH, DEPTH // 2, 0)] == [DEPTH, DEPTH // 2, 0]
    assert_log([])


def test_chain_of_10000_reverifies_after_unrelated_change_without_executing(rt):
    base.set(rt, 0)
    unrelated.set(rt, 0)
    chain(rt, DEPTH)
    unrelated.set(rt, 1)
    log.clear()
    rt.reset_counters()
    assert chain(rt, DEPTH) == DEPTH
    assert_log([])
    assert rt.counters.verifications == DEPTH + 1


def test_chain_of_10000_reexecutes_each_level_once_after_bottom_change(rt):
    base.set(rt, 0)
    chain(rt, DEPTH)
    base.set(rt, 1)
    log.clear()
    assert chain(rt, DEPTH) == DEPTH + 1
    assert sorted(log.take()) == list(range(DEPTH + 1))


def test_chain_where_every_level_reexecutes_through_nested_verification(rt):
    generation.set(rt, 0)
    assert fresh_chain(rt, 3000) == 3000
    generation.set(rt, 10)
    rt.reset_counters()
    assert fresh_chain(rt, 3000) == 3010
    assert rt.counters.executions == 3001
    assert fresh_chain(rt, 1500) == 1510


def test_chain_of_300_under_max_depth_7_suspends_yet_computes_and_recomputes_correctly(make_runtime):
    rt = make_runtime(max_depth=7)
    base.set(rt, 1)
    assert chain(rt, 300) == 301
    assert rt.counters.suspensions > 0
    assert rt.counters.executions == 301
    base.set(rt, 2)
    assert chain(rt, 300) == 302
    generation.set(rt, 0)
    assert fresh_chain(rt, 300) == 300
    generation.set(rt, 1)
    assert fresh_chain(rt, 300) == 301


def test_suspended_levels_run_again_but_complete_once(make_runtime):
    rt = make_runtime(max_depth=7)
    base.set(rt, 0)
    chain(rt, 50)
    assert len(log.take()) > 51
    assert rt.counters.executions == 51
    chain(rt, 50)
    assert_log([])


@pytest.mark.parametrize("max_depth, depth, handler", [(7, 20, 10), (None, 1000, 500)])
def test_exception_in_a_suspended_chain_reaches_the_handler_above_it(make_runtime, max_depth, depth, handler):
    rt = make_runtime(max_depth=max_depth)
    handler_at.set(rt, handler)
    assert guarded(rt, depth) == depth - handler - 1
    assert rt.counters.suspensions > 0
    with pytest.raises(Bottom, match="bottom reached"):
        guarded(rt, handler - 1)


def test_unhandled_exception_in_a_suspended_chain_propagates_unchanged(make_runtime):
    rt = make_runtime(max_depth=7)
    handler_at.set(rt, -1)
    with pytest.raises(Bottom, match="bottom reached"):
        guarded(rt, 40)
    handler_at.set(rt, 30)
    assert guarded(rt, 40) == 9


@pytest.mark.parametrize("max_depth, size", [(7, 30), (None, 1000)])
def test_cycle_through_a_suspended_chain_is_reported_as_cycle_error(make_runtime, max_depth, size):
    rt = make_runtime(max_depth=max_depth)
    ring_size.set(rt, size)
    with pytest.raises(CycleError) as info:
        ring(rt, size)
    assert rt.counters.suspensions > 0
    expected = [f"ring(rt, {n})" for n in range(size, -1, -1)] + [f"ring(rt, {size})"]
    assert info.value.cycle == expected


def test_cycle_entered_below_a_suspended_prefix_lists_only_the_cycle(make_runtime):
    rt = make_runtime(max_depth=7)
    ring_size.set(rt, 20)
    with pytest.raises(CycleError) as info:
        ring(rt, 40)
    assert info.value.cycle[0] == "ring(rt, 20)"
    assert info.value.cycle[-1] == "ring(rt, 20)"
    assert len(info.value.cycle) == 22
