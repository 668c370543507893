"""Memo hits, inputs and revisions, and what may be passed as arguments (spec: public API, semantics 1).

The derived bodies record their executions in the shared execution log (tests/execution_log.py).
"""
from __future__ import annotations

import math

import pytest

from runtime import MissingInputError, declare_input, derived
from tests.execution_log import assert_log, log


@declare_input
def sample(rt, i: int) -> tuple:
    """Feature vector of training row i."""


@declare_input
def scale(rt) -> float:
    """A global scale factor: an input with no key."""


@declare_input
def cell(rt, row: int, col: int) -> int:
    """A spreadsheet cell: an input with two keys."""


@derived
def double(rt, i: int) -> tuple:
    log.add(("double", i))
    return tuple(2 * v for v in sample(rt, i))


@derived
def scaled(rt, i: int) -> tuple:
    log.add(("scaled", i))
    return tuple(scale(rt) * v for v in sample(rt, i))


@derived
def cell_sum(rt, row: int) -> int:
    log.add(("cell_sum", row))
    return cell(rt, row, 0) + cell(rt, row, 1)


@derived
def describe(rt, arg) -> str:
    log.add(("describe", arg))
    return f"{type(arg).__name__}:{arg!r}"


def test_first_call_executes_and_returns_the_value(rt):
    sample.set(rt, 1, (3.0, 4.0))
    assert double(rt, 1) == (6.0, 8.0)
    assert_log([("double", 1)])


def test_memo_hit_does_not_execute(rt):
    sample.set(rt, 1, (3.0,))
    first = double(rt, 1)
    second = double(rt, 1)
    assert_log([("double", 1)])
    assert second == first
    assert rt.counters.executions == 1
    assert rt.counters.hits == 1


def test_repeated_memo_hits_count_only_as_hits(rt):
    sample.set(rt, 1, (3.0,))
    double(rt, 1)
    rt.reset_counters()
    for _ in range(5):
        double(rt, 1)
    assert rt.counters.snapshot() == {
        "executions": 0,
        "hits": 5,
        "verifications": 0,
        "backdates": 0,
        "suspensions": 0,
        "input_changes": 0,
    }


def test_each_argument_tuple_is_memoized_separately(rt):
    sample.set(rt, 1, (1.0,))
    sample.set(rt, 2, (2.0,))
    assert double(rt, 1) == (2.0,)
    assert double(rt, 2) == (4.0,)
    double(rt, 1)
    double(rt, 2)
    assert_log([("double", 1), ("double", 2)])


def test_set_input_that_changes_value_bumps_revision_once(rt):
    before = rt.revision
    assert sample.set(rt, 1, (1.0,)) is True
    assert rt.revision == before + 1
    assert sample.set(rt, 1, (2.0,)) is True
    assert rt.revision == before + 2


def test_equal_input_set_does_not_bump_revision(rt):
    sample.set(rt, 1, (1.0, 2.0))
    before = rt.revision
    assert sample.set(rt, 1, (1.0, 2.0)) is False
    assert rt.revision == before
    assert rt.counters.input_changes == 1


def test_equal_input_set_does_not_reexecute_dependents(rt):
    sample.set(rt, 1, (1.0,))
    double(rt, 1)
    sample.set(rt, 1, (1.0,))
    double(rt, 1)
    assert_log([("double", 1)])


def test_changed_input_reexecutes_its_dependent(rt):
    sample.set(rt, 1, (1.0,))
    assert double(rt, 1) == (2.0,)
    sample.set(rt, 1, (5.0,))
    assert double(rt, 1) == (10.0,)
    assert_log([("double", 1), ("double", 1)])


def test_change_to_another_key_of_the_same_input_does_not_reexecute(rt):
    sample.set(rt, 1, (1.0,))
    sample.set(rt, 2, (1.0,))
    double(rt, 1)
    sample.set(rt, 2, (7.0,))
    assert double(rt, 1) == (2.0,)
    assert_log([("double", 1)])
    assert rt.counters.verifications == 1


def test_input_without_a_key_is_read_and_its_change_reexecutes_dependents(rt):
    scale.set(rt, 10.0)
    sample.set(rt, 1, (1.0, 2.0))
    assert scale(rt) == 10.0
    assert scaled(rt, 1) == (10.0, 20.0)
    scale.set(rt, 0.5)
    assert scaled(rt, 1) == (0.5, 1.0)
    assert_log([("scaled", 1), ("scaled", 1)])


def test_input_with_two_keys_distinguishes_key_order(rt):
    cell.set(rt, 1, 0, 10)
    cell.set(rt, 1, 1, 20)
    cell.set(rt, 0, 1, 99)
    assert cell(rt, 1, 0) == 10
    assert cell(rt, 0, 1) == 99
    assert cell_sum(rt, 1) == 30
    cell.set(rt, 0, 1, 100)
    assert cell_sum(rt, 1) == 30
    cell.set(rt, 1, 1, 21)
    assert cell_sum(rt, 1) == 31
    assert_log([("cell_sum", 1), ("cell_sum", 1)])


def test_top_level_input_read_returns_the_value_set(rt):
    sample.set(rt, 7, ("a", 1))
    assert sample(rt, 7) == ("a", 1)


def test_reading_never_set_input_raises_missing_input_error_naming_input_and_key(rt):
    with pytest.raises(MissingInputError) as info:
        sample(rt, 42)
    assert isinstance(info.value, KeyError)
    assert "sample(rt, 42)" in str(info.value)
    assert "never set" in str(info.value)


def test_reading_deleted_input_raises_missing_input_error(rt):
    cell.set(rt, 3, 4, 1)
    before = rt.revision
    assert cell.delete(rt, 3, 4) is True
    assert rt.revision == before + 1
    with pytest.raises(MissingInputError, match=r"cell\(rt, 3, 4\) was deleted"):
        cell(rt, 3, 4)


def test_deleting_an_input_reexecutes_its_dependent_which_then_fails(rt):
    sample.set(rt, 1, (1.0,))
    double(rt, 1)
    sample.delete(rt, 1)
    with pytest.raises(MissingInputError, match=r"sample\(rt, 1\)"):
        double(rt, 1)
    assert_log([("double", 1), ("double", 1)])


def test_deleting_input_without_value_raises_and_keeps_revision(rt):
    before = rt.revision
    with pytest.raises(MissingInputError, match=r"scale\(rt\)"):
        scale.delete(rt)
    assert rt.revision == before
    scale.set(rt, 1.0)
    scale.delete(rt)
    with pytest.raises(MissingInputError):
        scale.delete(rt)


def test_input_set_after_delete_is_readable_again(rt):
    scale.set(rt, 2.0)
    scale.delete(rt)
    scale.set(rt, 3.0)
    assert scale(rt) == 3.0


def test_set_without_value_is_a_type_error(rt):
    with pytest.raises(TypeError, match="value"):
        scale.set(rt)


@pytest.mark.parametrize(
    "bad, type_name",
    [([1], "list"), ({"a": 1}, "dict"), ({1}, "set"), (object(), "object"), ((1, [2]), "list")],
)
def test_unhashable_argument_is_a_type_error_naming_the_argument(rt, bad, type_name):
    with pytest.raises(TypeError, match=rf"argument 1 \('i'\) must be .* not {type_name}"):
        double(rt, bad)
    with pytest.raises(TypeError, match=rf"argument 2 \('col'\) must be .* not {type_name}"):
        cell(rt, 0, bad)
    with pytest.raises(TypeError, match=rf"argument 1 \('row'\) must be .* not {type_name}"):
        cell.set(rt, bad, 0, 5)
    assert_log([])


@pytest.mark.parametrize(
    "arg",
    [0, -3, 2.5, "text", True, None, b"\x00raw", (1, "a", (None, 2.0)), ()],
)
def test_allowed_argument_types_are_accepted_and_memoized(rt, arg):
    assert describe(rt, arg) == f"{type(arg).__name__}:{arg!r}"
    describe(rt, arg)
    assert len(log.take()) == 1


def test_equal_but_distinguishable_arguments_are_different_calls(rt):
    results = [describe(rt, a) for a in (1, 1.0, True, 0.0, -0.0, (1,), (1.0,))]
    assert results == ["int:1", "float:1.0", "bool:True", "float:0.0", "float:-0.0", "tuple:(1,)", "tuple:(1.0,)"]
    assert len(log.take()) == 7


def test_every_nan_argument_is_the_same_call(rt):
    describe(rt, math.nan)
    describe(rt, float("nan"))
    describe(rt, -math.nan)
    assert len(log.take()) == 1


def test_second_runtime_on_the_same_store_serves_the_memo(rt, make_runtime):
    sample.set(rt, 1, (2.0,))
    double(rt, 1)
    other = make_runtime(rt.storage)
    assert other.revision == rt.revision
    assert double(other, 1) == (4.0,)
    assert_log([("double", 1)])


def test_runtimes_on_separate_stores_share_nothing(make_runtime):
    first, second = make_runtime(), make_runtime()
    sample.set(first, 1, (1.0,))
    sample.set(second, 1, (10.0,))
    assert double(first, 1) == (2.0,)
    assert double(second, 1) == (20.0,)
    assert len(log.take()) == 2
    with pytest.raises(MissingInputError):
        scale(second)
