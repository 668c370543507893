"""Exceptions in derived functions, dependency cycles and previous_output (spec: semantics 5, 6, 7).

A call that failed is raised again, not re-run, for the rest of the same top-level call
(issue 11: "a failing dependency runs once"), and tried afresh by the next one.

The derived bodies record their executions in the shared execution log (tests/execution_log.py).
``RAISED`` holds the exceptions ``checked`` raised and the previous outputs ``failing_history`` saw.
"""
from __future__ import annotations

import pytest

from runtime import (
    CycleError,
    MissingInputError,
    OutsideDerivedError,
    RuntimeEngineError,
    declare_input,
    derived,
    previous_output,
)
from tests.execution_log import assert_log, log

RAISED: list[BaseException] = []


@pytest.fixture(autouse=True)
def _clear_raised() -> None:
    RAISED.clear()


class Boom(Exception):
    """The error the test functions raise."""


@declare_input
def x(rt) -> int:
    """A number; negative makes ``checked`` fail."""


@declare_input
def loop(rt) -> bool:
    """Whether ``a`` calls ``b`` (which always calls ``a``)."""


@declare_input
def counter(rt, name: str) -> int:
    """A value that ``history`` tracks."""


@derived
def checked(rt) -> int:
    log.add("checked")
    v = x(rt)
    if v < 0:
        error = Boom(f"negative: {v}")
        RAISED.append(error)
        raise error
    return v


@derived
def plus_one(rt) -> int:
    log.add("plus_one")
    return checked(rt) + 1


@derived
def tolerant(rt) -> str:
    log.add("tolerant")
    try:
        return f"ok {checked(rt)}"
    except Boom:
        return "fallback"


@derived
def optional_x(rt) -> int:
    log.add("optional_x")
    try:
        return x(rt)
    except MissingInputError:
        return -1


@derived
def self_loop(rt) -> int:
    return self_loop(rt)


@derived
def a(rt) -> int:
    log.add("a")
    if loop(rt):
        return b(rt, 1)
    return 0


@derived
def b(rt, i: int) -> int:
    log.add("b")
    return a(rt) + i


@derived
def above_cycle(rt) -> int:
    return a(rt) + 100


@derived
def history(rt, name: str) -> tuple:
    log.add("history")
    before = previous_output(rt)
    return (counter(rt, name), before)


@derived
def history_user(rt, name: str) -> tuple:
    return history(rt, name) + (previous_output(rt),)


@declare_input
def one(rt) -> int:
    """Must be 1 for ``leaf``."""


@derived
def leaf(rt) -> int:
    log.add("leaf")
    value = one(rt)
    assert value == 1, f"one is {value}"
    return value


@derived
def outer(rt) -> int:
    log.add("outer")
    return leaf(rt) + 1


@derived
def chain(rt, n: int) -> int:
    """Level ``n`` of a chain of callers above ``leaf`` (level 0 calls it)."""
    log.add(n)
    return (leaf(rt) if n == 0 else chain(rt, n - 1)) + 1


@derived
def failing_history(rt) -> int:
    before = previous_output(rt)
    RAISED.append(before)
    v = x(rt)
    if v < 0:
        raise Boom("negative")
    return v


def test_exception_propagates_unchanged_to_the_caller(rt):
    x.set(rt, -1)
    with pytest.raises(Boom) as info:
        checked(rt)
    assert info.value is RAISED[0]
    assert str(info.value) == "negative: -1"


def test_exception_propagates_unchanged_through_nested_derived_calls(rt):
    x.set(rt, -2)
    with pytest.raises(Boom) as info:
        plus_one(rt)
    assert info.value is RAISED[0]
    assert_log(["plus_one", "checked"])


def test_failed_call_is_not_memoized_and_next_call_executes_again(rt):
    x.set(rt, -1)
    for _ in range(3):
        with pytest.raises(Boom):
            checked(rt)
    assert_log(["checked"] * 3)
    assert rt.counters.executions == 0
    assert len(RAISED) == 3


def test_failed_reexecution_keeps_the_previous_memo(rt):
    x.set(rt, 5)
    assert plus_one(rt) == 6
    x.set(rt, -1)
    with pytest.raises(Boom):
        plus_one(rt)
    nodes = rt.explain(plus_one).to_dict()["nodes"]
    assert [nodes[n]["label"] for n in ("n0", "n1", "n2")] == ["plus_one(rt)", "checked(rt)", "x(rt)"]
    assert nodes["n0"]["state"] == "failed"
    x.set(rt, 5)
    assert plus_one(rt) == 6


def test_previous_output_survives_a_failed_execution(rt):
    x.set(rt, 3)
    failing_history(rt)
    x.set(rt, -1)
    with pytest.raises(Boom):
        failing_history(rt)
    x.set(rt, 4)
    assert failing_history(rt) == 4
    assert RAISED == [None, 3, 3]


def test_caller_that_handles_the_error_is_memoized(rt):
    x.set(rt, -1)
    assert tolerant(rt) == "fallback"
    assert tolerant(rt) == "fallback"
    assert_log(["tolerant", "checked"])


def test_caller_that_handled_an_error_reexecutes_when_the_cause_is_fixed(rt):
    x.set(rt, -1)
    assert tolerant(rt) == "fallback"
    x.set(rt, 7)
    assert tolerant(rt) == "ok 7"


def test_caller_that_handled_an_error_reexecutes_when_the_old_value_comes_back(rt):
    x.set(rt, 5)
    assert tolerant(rt) == "ok 5"
    x.set(rt, -1)
    assert tolerant(rt) == "fallback"
    x.set(rt, 5)
    assert tolerant(rt) == "ok 5"


def test_failed_call_is_never_backdated_to_its_value_before_the_failure(rt):
    x.set(rt, 5)
    tolerant(rt)
    x.set(rt, -1)
    tolerant(rt)
    x.set(rt, 5)
    rt.reset_counters()
    tolerant(rt)
    assert rt.counters.backdates == 0
    assert rt.counters.executions == 2


def test_failed_call_raises_again_at_the_same_revision(rt):
    x.set(rt, 5)
    checked(rt)
    x.set(rt, -1)
    assert tolerant(rt) == "fallback"
    with pytest.raises(Boom):
        checked(rt)


def test_missing_input_inside_derived_propagates_as_missing_input_error(rt):
    with pytest.raises(MissingInputError, match=r"x\(rt\) was never set"):
        plus_one(rt)


def test_derived_that_caught_a_missing_input_reexecutes_when_it_is_set(rt):
    assert optional_x(rt) == -1
    assert optional_x(rt) == -1
    x.set(rt, 8)
    assert optional_x(rt) == 8
    x.delete(rt)
    assert optional_x(rt) == -1
    assert_log(["optional_x"] * 3)


def test_self_cycle_raises_cycle_error_naming_the_call(rt):
    with pytest.raises(CycleError) as info:
        self_loop(rt)
    assert str(info.value) == "dependency cycle: self_loop(rt) -> self_loop(rt)"
    assert info.value.cycle == ["self_loop(rt)", "self_loop(rt)"]
    assert isinstance(info.value, RuntimeEngineError)


def test_cycle_error_message_lists_the_cycle(rt):
    loop.set(rt, True)
    with pytest.raises(CycleError, match=r"^dependency cycle: a\(rt\) -> b\(rt, 1\) -> a\(rt\)$"):
        a(rt)


def test_cycle_entered_from_its_middle_is_listed_from_there(rt):
    loop.set(rt, True)
    with pytest.raises(CycleError) as info:
        b(rt, 1)
    assert info.value.cycle == ["b(rt, 1)", "a(rt)", "b(rt, 1)"]


def test_cycle_below_a_caller_lists_only_the_cycle(rt):
    loop.set(rt, True)
    with pytest.raises(CycleError) as info:
        above_cycle(rt)
    assert info.value.cycle == ["a(rt)", "b(rt, 1)", "a(rt)"]


def test_cycle_introduced_by_an_input_change_is_detected_on_reverify(rt):
    loop.set(rt, False)
    assert above_cycle(rt) == 100
    loop.set(rt, True)
    with pytest.raises(CycleError, match=r"a\(rt\) -> b\(rt, 1\) -> a\(rt\)"):
        above_cycle(rt)


def test_cycle_error_is_not_memoized(rt):
    loop.set(rt, True)
    with pytest.raises(CycleError):
        a(rt)
    loop.set(rt, False)
    assert a(rt) == 0
    assert b(rt, 1) == 1


def test_previous_output_is_none_on_first_execution(rt):
    counter.set(rt, "n", 1)
    assert history(rt, "n") == (1, None)


def test_previous_output_returns_the_value_memoized_before_this_execution(rt):
    counter.set(rt, "n", 1)
    first = history(rt, "n")
    counter.set(rt, "n", 2)
    assert history(rt, "n") == (2, first)
    counter.set(rt, "n", 3)
    assert history(rt, "n") == (3, (2, first))


def test_previous_output_is_per_argument_tuple(rt):
    counter.set(rt, "n", 1)
    counter.set(rt, "m", 10)
    history(rt, "n")
    history(rt, "m")
    counter.set(rt, "m", 11)
    assert history(rt, "m") == (11, (10, None))
    assert history(rt, "n") == (1, None)


def test_previous_output_is_the_running_function_s_own(rt):
    counter.set(rt, "n", 1)
    assert history_user(rt, "n") == (1, None, None)
    counter.set(rt, "n", 2)
    assert history_user(rt, "n") == (2, (1, None), (1, None, None))


def test_previous_output_outside_a_derived_function_raises(rt):
    with pytest.raises(OutsideDerivedError):
        previous_output(rt)


def test_dependency_failing_during_reverification_runs_once_in_that_call(rt):
    one.set(rt, 1)
    assert outer(rt) == 2
    log.clear()
    one.set(rt, 0)
    with pytest.raises(AssertionError, match="one is 0"):
        outer(rt)
    assert_log(["leaf", "outer"])
    one.set(rt, 1)
    assert outer(rt) == 2
    assert_log(["outer", "leaf"])


def assert_chain_ran_once_each(levels: int) -> None:
    """Since the last check, each chain level and the leaf executed exactly once."""
    entries = log.take()
    assert entries.count("leaf") == 1, entries
    assert sorted(e for e in entries if e != "leaf") == list(range(levels)), entries


def test_failing_leaf_under_a_chain_of_callers_runs_once_per_top_level_call(rt):
    one.set(rt, 1)
    assert chain(rt, 10) == 12
    assert_chain_ran_once_each(11)
    one.set(rt, 0)
    with pytest.raises(AssertionError, match="one is 0"):
        chain(rt, 10)
    assert_chain_ran_once_each(11)
    with pytest.raises(AssertionError, match="one is 0"):
        chain(rt, 10)  # a new top-level call tries again: failures are not memoized across calls
    assert_chain_ran_once_each(11)


def test_failing_leaf_under_a_chain_restarted_on_fresh_stacks_runs_once_per_top_level_call(make_runtime):
    rt = make_runtime(max_depth=3)  # the driver abandons and retries executions (test_deep_chains.py)
    one.set(rt, 1)
    chain(rt, 10)
    log.clear()
    one.set(rt, 0)
    for _ in range(2):
        with pytest.raises(AssertionError, match="one is 0"):
            chain(rt, 10)
        assert log.take().count("leaf") == 1
