"""Maintained functions: ``changes(rt)`` and the dependencies that carry over (issue 11: the API, rules 1, 2 and 4).

The maintained bodies record what ``changes`` returned in ``REPORTED`` (one entry per
execution) and their executions in the shared execution log (tests/execution_log.py).
Every maintained result is compared with a non-maintained function over the same inputs.
"""
from __future__ import annotations

import pickle
import sys
from typing import Any, Callable

import pytest

import runtime
from runtime import (
    MISSING,
    Change,
    CycleError,
    DerivedFunction,
    MissingInputError,
    OutsideDerivedError,
    Runtime,
    changes,
    declare_input,
    derived,
    previous_output,
)
from tests.execution_log import assert_log, log

from .threads import Gate, Worker

#: What ``changes(rt)`` returned, one entry per execution of a maintained body, in order.
REPORTED: list[tuple[Change, ...] | None] = []
GATE = Gate()


@pytest.fixture(autouse=True)
def _fresh_state() -> None:
    """Every test starts with nothing reported and a closed gate."""
    global GATE
    REPORTED.clear()
    GATE = Gate()


class Boom(Exception):
    """The error ``fragile`` raises."""


@declare_input
def item(rt, k: int) -> int:
    """Row ``k`` of the rows ``total`` sums; a row without a value counts as 0."""


@declare_input
def count(rt) -> int:
    """How many rows there are: ``item(rt, 1)`` .. ``item(rt, count)``."""


@declare_input
def cell(rt, table: str, k: int) -> int:
    """A cell that ``watched`` and the other small maintained functions read."""


@declare_input
def fail(rt) -> bool:
    """Whether ``fragile`` raises."""


@declare_input
def factor(rt) -> int:
    """What ``scale`` divides by 10."""


@declare_input
def ask(rt) -> bool:
    """Whether ``sometimes`` calls ``changes``."""


@declare_input
def loop(rt) -> bool:
    """Whether ``cyclic`` calls ``partner`` (which always calls ``cyclic``)."""


def number(value: Any) -> int:
    """A reported value as a number: 0 for ``MISSING``."""
    return 0 if value is MISSING else value


def value_or_zero(rt, k: int) -> int:
    """``item(rt, k)``, or 0 when it has no value."""
    try:
        return item(rt, k)
    except MissingInputError:
        return 0


def row(rt, k: int) -> int:
    """``value_or_zero`` as ``total`` reads it, logged as ``("row", k)``."""
    log.add(("row", k))
    return value_or_zero(rt, k)


def cell_or_none(rt, table: str, k: int) -> int | None:
    """``cell(rt, table, k)``, or None when it has no value."""
    try:
        return cell(rt, table, k)
    except MissingInputError:
        return None


@derived
def total(rt) -> int:
    """The sum of rows 1..count: all rows read on the first run, then only the changed rows and new ones."""
    log.add("total")
    prev, delta = previous_output(rt), changes(rt)
    REPORTED.append(delta)
    n = count(rt)
    if prev is None or delta is None:
        return sum(row(rt, k) for k in range(1, n + 1))
    old_n = next((c.old for c in delta if c.function is count), n)
    t = prev + sum(number(c.new) - number(c.old) for c in delta if c.function is item and c.key[0] <= old_n)
    t += sum(row(rt, k) for k in range(old_n + 1, n + 1))
    return t - sum(row(rt, k) for k in range(n + 1, old_n + 1))


@derived
def plain_total(rt) -> int:
    """What ``total`` must equal: the same sum, computed from scratch on every execution."""
    return sum(value_or_zero(rt, k) for k in range(1, count(rt) + 1))


@derived
def total_report(rt) -> str:
    """A dependent of ``total``."""
    log.add("total_report")
    return f"total={total(rt)}"


@derived
def watched(rt, keys: tuple[int, ...]) -> tuple[int | None, ...]:
    """Reads ``cell(rt, "t", k)`` for each of ``keys`` on every execution, and asks what changed."""
    log.add("watched")
    REPORTED.append(changes(rt))
    return tuple(cell_or_none(rt, "t", k) for k in keys)


@derived
def fragile(rt) -> int:
    """A maintained ``cell(rt, "f", 1)`` that raises while ``fail`` is set."""
    log.add("fragile")
    REPORTED.append(changes(rt))
    if fail(rt):
        raise Boom("fail is set")
    return cell(rt, "f", 1)


@derived
def versioned(rt) -> int:
    """A maintained ``cell(rt, "v", 1)``; redeclared by the code-change test."""
    REPORTED.append(changes(rt))
    return cell(rt, "v", 1)


ORIGINAL_VERSIONED = versioned


@derived
def scale(rt) -> int:
    """``factor`` divided by 10: 10 and 11 give the same value."""
    log.add("scale")
    return factor(rt) // 10


@derived
def scaled(rt) -> int:
    """A maintained sum of cells 1 and 2 of table "s", times the derived ``scale``."""
    log.add("scaled")
    REPORTED.append(changes(rt))
    return scale(rt) * (cell(rt, "s", 1) + cell(rt, "s", 2))


@derived
def sometimes(rt) -> int:
    """``cell(rt, "a", 1)``, maintained only while ``ask`` is set."""
    log.add("sometimes")
    if ask(rt):
        REPORTED.append(changes(rt))
    return cell(rt, "a", 1)


@derived
def cyclic(rt) -> int:
    """A maintained function that is part of a cycle while ``loop`` is set."""
    log.add("cyclic")
    REPORTED.append(changes(rt))
    if loop(rt):
        return partner(rt) + 1
    return cell(rt, "c", 1)


@derived
def partner(rt) -> int:
    """Calls ``cyclic``."""
    log.add("partner")
    return cyclic(rt)


@derived
def gated_total(rt) -> int:
    """``total`` held at the gate: a maintained call another thread arrives at mid-execution."""
    log.add("gated_total")
    REPORTED.append(changes(rt))
    value = sum(value_or_zero(rt, k) for k in range(1, count(rt) + 1))
    GATE.pass_through()
    return value


@derived
def square(rt, k: int) -> int:
    """Row ``k`` squared (0 without a value)."""
    log.add(("square", k))
    return value_or_zero(rt, k) ** 2


@derived
def squares_total(rt) -> int:
    """The sum of ``square(rt, k)`` over rows 1..count, maintained: reads only new squares when it can."""
    log.add("squares_total")
    prev, delta = previous_output(rt), changes(rt)
    REPORTED.append(delta)
    n = count(rt)
    if prev is None or delta is None:
        return sum(square(rt, k) for k in range(1, n + 1))
    old_n = next((c.old for c in delta if c.function is count), n)
    t = prev + sum(square(rt, k) for k in range(old_n + 1, n + 1))
    return t - sum(square(rt, k) for k in range(n + 1, old_n + 1))


def set_rows(rt, values: dict[int, int]) -> None:
    """Set ``count`` to the number of rows and ``item(rt, k)`` for each of ``values``."""
    count.set(rt, len(values))
    for k, value in values.items():
        item.set(rt, k, value)


def assert_total_is_exact(rt) -> int:
    """``total`` equals the sum recomputed from scratch; return it."""
    value = total(rt)
    assert value == plain_total(rt)
    return value


@pytest.fixture
def redeclare(monkeypatch: pytest.MonkeyPatch):
    """Declare a new ``versioned`` the way a reload would; the original is declared again afterwards."""

    def declare(body: Callable[..., Any], version: int = 0) -> DerivedFunction:
        body.__module__ = ORIGINAL_VERSIONED.__module__
        body.__qualname__ = ORIGINAL_VERSIONED.__qualname__
        body.__name__ = ORIGINAL_VERSIONED.__name__
        new = derived(version=version)(body)
        monkeypatch.setattr(sys.modules[__name__], "versioned", new)
        return new

    yield declare
    derived(version=ORIGINAL_VERSIONED.version)(ORIGINAL_VERSIONED.body)


# Exports and the values changes() reports.


def test_change_and_missing_are_exported_from_runtime():
    assert {"Change", "MISSING", "changes"} <= set(runtime.__all__)
    assert runtime.Change is Change and runtime.MISSING is MISSING and runtime.changes is changes
    assert Change._fields == ("function", "key", "old", "new")


def test_missing_is_one_falsy_value_that_pickles_as_itself():
    assert not MISSING
    assert repr(MISSING) == "MISSING"
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert type(MISSING)() is MISSING


# Rule 1: None wherever there is nothing to maintain from.


def test_changes_is_none_on_the_first_execution(rt):
    cell.set(rt, "t", 1, 10)
    assert watched(rt, (1,)) == (10,)
    assert REPORTED == [None]


def test_changes_outside_a_derived_function_raises_the_error_previous_output_raises(rt):
    with pytest.raises(OutsideDerivedError, match=r"changes\(\) can only be called inside a derived function"):
        changes(rt)
    with pytest.raises(OutsideDerivedError):
        previous_output(rt)


def test_changes_is_none_after_a_failed_execution_and_the_result_is_recomputed(rt):
    fail.set(rt, False)
    cell.set(rt, "f", 1, 1)
    assert fragile(rt) == 1
    fail.set(rt, True)
    with pytest.raises(Boom):
        fragile(rt)
    fail.set(rt, False)
    cell.set(rt, "f", 1, 2)
    assert fragile(rt) == 2
    cell.set(rt, "f", 1, 3)
    assert fragile(rt) == 3
    assert REPORTED == [
        None,
        (Change(fail, (), False, True),),
        None,
        (Change(cell, ("f", 1), 2, 3),),
    ]
    assert_log(["fragile"] * 4)


@pytest.mark.parametrize("change", ["version", "code"])
def test_changes_is_none_after_the_code_or_version_changed(rt, redeclare, change):
    cell.set(rt, "v", 1, 1)
    assert versioned(rt) == 1

    def new_code(rt) -> int:
        REPORTED.append(changes(rt))
        return cell(rt, "v", 1) * 1

    new = redeclare(new_code) if change == "code" else redeclare(ORIGINAL_VERSIONED.body, version=1)
    assert new.code != ORIGINAL_VERSIONED.code
    cell.set(rt, "v", 1, 2)
    assert new(rt) == 2
    cell.set(rt, "v", 1, 3)
    assert new(rt) == 3
    assert REPORTED == [None, None, (Change(cell, ("v", 1), 2, 3),)]


def test_changes_is_none_when_a_derived_dependency_changed(rt):
    factor.set(rt, 10)
    cell.set(rt, "s", 1, 1)
    cell.set(rt, "s", 2, 2)
    assert scaled(rt) == 3
    factor.set(rt, 20)
    cell.set(rt, "s", 1, 5)
    assert scaled(rt) == 14
    assert REPORTED == [None, None]


def test_changes_reports_inputs_when_a_derived_dependency_was_recomputed_to_the_same_value(rt):
    factor.set(rt, 10)
    cell.set(rt, "s", 1, 1)
    cell.set(rt, "s", 2, 2)
    assert scaled(rt) == 3
    factor.set(rt, 11)  # scale is still 1: it backdates
    cell.set(rt, "s", 2, 4)
    assert scaled(rt) == 5
    assert REPORTED == [None, (Change(cell, ("s", 2), 2, 4),)]
    assert_log(["scaled", "scale", "scale", "scaled"])


def test_changes_is_none_when_the_previous_execution_did_not_call_it(rt):
    ask.set(rt, False)
    cell.set(rt, "a", 1, 1)
    assert sometimes(rt) == 1
    ask.set(rt, True)
    cell.set(rt, "a", 1, 2)
    assert sometimes(rt) == 2
    cell.set(rt, "a", 1, 3)
    assert sometimes(rt) == 3
    ask.set(rt, False)
    assert sometimes(rt) == 3
    ask.set(rt, True)
    cell.set(rt, "a", 1, 4)
    assert sometimes(rt) == 4
    assert REPORTED == [None, (Change(cell, ("a", 1), 2, 3),), None]


# Rule 1: otherwise one Change per input whose value differs, in first-read order.


def test_changes_reports_each_changed_input_once_in_first_read_order_with_old_and_new_values(rt):
    for k in (1, 2, 3, 4):
        cell.set(rt, "t", k, 10 * k)
    assert watched(rt, (3, 1, 2, 4)) == (30, 10, 20, 40)
    cell.set(rt, "t", 2, 21)
    cell.set(rt, "t", 1, 11)
    cell.set(rt, "t", 1, 12)
    cell.set(rt, "t", 3, 31)
    cell.set(rt, "t", 5, 50)  # not read: not reported
    assert watched(rt, (3, 1, 2, 4)) == (31, 12, 21, 40)
    assert REPORTED[1] == (
        Change(cell, ("t", 3), 30, 31),
        Change(cell, ("t", 1), 10, 12),
        Change(cell, ("t", 2), 20, 21),
    )
    assert REPORTED[1][0].function is cell
    assert_log(["watched", "watched"])


def test_changes_reports_nothing_at_the_next_call_when_nothing_changed_since(rt):
    cell.set(rt, "t", 1, 1)
    watched(rt, (1,))
    cell.set(rt, "t", 1, 2)
    watched(rt, (1,))
    cell.set(rt, "t", 2, 0)  # a new revision; not read
    assert watched(rt, (1,)) == (2,)
    assert REPORTED == [None, (Change(cell, ("t", 1), 1, 2),)]
    assert_log(["watched", "watched"])


def test_changes_reports_a_deleted_input_as_missing(rt):
    cell.set(rt, "t", 1, 5)
    assert watched(rt, (1,)) == (5,)
    cell.delete(rt, "t", 1)
    assert watched(rt, (1,)) == (None,)
    assert REPORTED[1] == (Change(cell, ("t", 1), 5, MISSING),)
    assert REPORTED[1][0].new is MISSING


def test_changes_reports_an_input_read_while_never_set_and_then_set_as_missing_before(rt):
    assert watched(rt, (1,)) == (None,)
    cell.set(rt, "t", 1, 5)
    assert watched(rt, (1,)) == (5,)
    assert REPORTED == [None, (Change(cell, ("t", 1), MISSING, 5),)]
    assert REPORTED[1][0].old is MISSING


def test_changes_does_not_report_an_input_set_back_to_the_value_it_had(rt):
    cell.set(rt, "t", 1, 1)
    cell.set(rt, "t", 2, 2)
    assert watched(rt, (1, 2)) == (1, 2)
    cell.set(rt, "t", 1, 9)
    cell.set(rt, "t", 1, 1)
    cell.set(rt, "t", 2, 3)
    assert watched(rt, (1, 2)) == (1, 3)
    cell.set(rt, "t", 2, 4)
    cell.set(rt, "t", 2, 3)
    assert watched(rt, (1, 2)) == (1, 3)
    assert REPORTED[:2] == [None, (Change(cell, ("t", 2), 2, 3),)]
    assert REPORTED[2:] in ([], [()])  # re-executing to be told "nothing" is allowed, a report is not


def test_key_is_the_argument_tuple_of_the_input(rt):
    count.set(rt, 1)
    item.set(rt, 1, 1)
    assert total(rt) == 1
    count.set(rt, 2)
    item.set(rt, 1, 3)
    item.set(rt, 2, 4)
    assert total(rt) == 7
    assert REPORTED[1] == (Change(count, (), 1, 2), Change(item, (1,), 1, 3))


# Rule 2: a maintained function keeps depending on what it read before.


def test_maintained_function_that_reads_only_new_rows_still_sees_a_change_to_an_old_one(rt):
    set_rows(rt, {1: 1, 2: 2, 3: 3})
    assert assert_total_is_exact(rt) == 6
    assert_log(["total", ("row", 1), ("row", 2), ("row", 3)])
    count.set(rt, 4)
    item.set(rt, 4, 4)
    assert assert_total_is_exact(rt) == 10
    assert_log(["total", ("row", 4)])
    item.set(rt, 1, 100)
    assert assert_total_is_exact(rt) == 109
    assert_log(["total"])
    item.set(rt, 2, 200)
    item.set(rt, 4, 400)
    assert assert_total_is_exact(rt) == 703
    assert REPORTED == [
        None,
        (Change(count, (), 3, 4),),
        (Change(item, (1,), 1, 100),),
        (Change(item, (2,), 2, 200), Change(item, (4,), 4, 400)),
    ]


def test_input_not_read_again_still_counts_as_changed_for_verification(rt):
    set_rows(rt, {1: 1, 2: 2})
    total(rt)
    count.set(rt, 3)
    item.set(rt, 3, 3)
    total(rt)
    log.clear()
    item.set(rt, 1, 10)
    assert assert_total_is_exact(rt) == 15
    assert_log(["total"])
    assert total(rt) == 15
    assert_log([])


def test_deleted_input_set_again_later_is_reported_as_missing_before(rt):
    set_rows(rt, {1: 1, 2: 2, 3: 3})
    assert assert_total_is_exact(rt) == 6
    item.delete(rt, 2)
    assert assert_total_is_exact(rt) == 4
    item.set(rt, 2, 7)
    assert assert_total_is_exact(rt) == 11
    assert REPORTED == [None, (Change(item, (2,), 2, MISSING),), (Change(item, (2,), MISSING, 7),)]
    assert_log(["total", ("row", 1), ("row", 2), ("row", 3), "total", "total"])


def test_rows_dropped_by_a_shrinking_count_and_their_later_changes(rt):
    set_rows(rt, {1: 1, 2: 2, 3: 3})
    assert assert_total_is_exact(rt) == 6
    count.set(rt, 1)
    assert assert_total_is_exact(rt) == 1
    item.set(rt, 3, 30)  # outside the count now
    assert assert_total_is_exact(rt) == 1
    count.set(rt, 3)
    assert assert_total_is_exact(rt) == 33
    assert REPORTED[1:] == [
        (Change(count, (), 3, 1),),
        (Change(item, (3,), 3, 30),),
        (Change(count, (), 1, 3),),
    ]


def test_maintained_function_carries_over_its_derived_dependencies(rt):
    set_rows(rt, {1: 1, 2: 2})
    assert squares_total(rt) == 5
    count.set(rt, 3)
    item.set(rt, 3, 3)
    assert squares_total(rt) == 14
    assert_log(["squares_total", ("square", 1), ("square", 2), "squares_total", ("square", 3)])
    item.set(rt, 1, 4)  # square(rt, 1) changes: a derived dependency read two executions ago
    assert squares_total(rt) == 29
    assert_log([("square", 1), "squares_total"])  # verified squares 2 and 3 stay memoized
    assert REPORTED == [None, (Change(count, (), 2, 3),), None]


# Rule 3: the database store, restarted.


@pytest.mark.django_db(transaction=True)
def test_a_restarted_database_store_keeps_what_a_maintained_function_depends_on_and_saw():
    from runtime.db.storage import DatabaseStorage

    first = Runtime(DatabaseStorage("maintained"))
    set_rows(first, {1: 1, 2: 2})
    assert total(first) == 3
    count.set(first, 3)
    item.set(first, 3, 3)
    assert total(first) == 6  # read only row 3
    log.clear()
    second = Runtime(DatabaseStorage("maintained"))  # a new process on the same namespace
    assert total(second) == 6
    assert_log([])
    item.set(second, 1, 10)
    item.delete(second, 3)
    assert total(second) == 12
    assert_log(["total"])
    third = Runtime(DatabaseStorage("maintained"))
    item.set(third, 3, 30)
    assert total(third) == 42 == plain_total(third)
    assert REPORTED[2:] == [
        (Change(item, (1,), 1, 10), Change(item, (3,), 3, MISSING)),
        (Change(item, (3,), MISSING, 30),),
    ]


# Rule 4: early cutoff, cycles, errors, threads and explain.


def test_maintained_result_recomputed_to_the_same_value_backdates_and_dependents_do_not_reexecute(rt):
    set_rows(rt, {1: 1, 2: 2})
    assert total_report(rt) == "total=3"
    log.clear()
    item.set(rt, 1, 2)
    item.set(rt, 2, 1)
    rt.reset_counters()
    assert total_report(rt) == "total=3"
    assert_log(["total"])
    assert rt.counters.backdates == 1
    assert REPORTED[1] == (Change(item, (1,), 1, 2), Change(item, (2,), 2, 1))


def test_cycle_through_a_maintained_function_raises_and_it_recomputes_when_broken(rt):
    loop.set(rt, False)
    cell.set(rt, "c", 1, 1)
    assert cyclic(rt) == 1
    loop.set(rt, True)
    with pytest.raises(CycleError) as info:
        cyclic(rt)
    assert info.value.cycle == ["cyclic(rt)", "partner(rt)", "cyclic(rt)"]
    loop.set(rt, False)
    cell.set(rt, "c", 1, 2)
    assert cyclic(rt) == 2
    cell.set(rt, "c", 1, 3)
    assert cyclic(rt) == 3
    assert REPORTED == [None, (Change(loop, (), False, True),), None, (Change(cell, ("c", 1), 2, 3),)]


def test_error_in_a_maintained_function_is_raised_each_call_until_fixed_then_recomputed_from_scratch(rt):
    fail.set(rt, True)
    cell.set(rt, "f", 1, 1)
    for _ in range(2):
        with pytest.raises(Boom):
            fragile(rt)
    assert REPORTED == [None, None]
    fail.set(rt, False)
    assert fragile(rt) == 1
    assert REPORTED == [None, None, None]
    assert_log(["fragile"] * 3)


def test_two_threads_calling_a_maintained_function_execute_it_once_with_one_report(rt):
    global GATE
    set_rows(rt, {1: 1, 2: 2})
    GATE.release.set()
    assert gated_total(rt) == 3
    GATE = Gate()
    item.set(rt, 2, 5)
    first = Worker(lambda: gated_total(rt))
    first.start()
    assert GATE.entered.wait(10)
    second = Worker(lambda: gated_total(rt))
    second.start()
    assert second.waits(), "the second thread did not wait for the running execution"
    GATE.release.set()
    assert (first.outcome(), second.outcome()) == (6, 6)
    assert REPORTED == [None, (Change(item, (2,), 2, 5),)]
    assert_log(["gated_total", "gated_total"])


def test_explain_marks_a_maintained_call_and_lists_its_carried_over_inputs(rt):
    set_rows(rt, {1: 1, 2: 2})
    total(rt)
    plain_total(rt)
    count.set(rt, 3)
    item.set(rt, 3, 3)
    total(rt)  # read only count and row 3 this time
    nodes = rt.explain(total).to_dict()["nodes"]
    assert nodes["n0"]["maintained"] is True
    labels = {nodes[n]["label"] for n in nodes["n0"]["deps"]}
    assert labels == {"count(rt)", "item(rt, 1)", "item(rt, 2)", "item(rt, 3)"}
    assert rt.explain(plain_total).to_dict()["nodes"]["n0"]["maintained"] is False


def test_explain_lists_a_maintained_call_s_derived_dependencies_too(rt):
    set_rows(rt, {1: 1})
    squares_total(rt)
    count.set(rt, 2)
    item.set(rt, 2, 2)
    squares_total(rt)
    nodes = rt.explain(squares_total).to_dict()["nodes"]
    labels = {nodes[n]["label"] for n in nodes["n0"]["deps"]}
    assert labels == {"count(rt)", "square(rt, 1)", "square(rt, 2)"}
