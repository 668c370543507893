"""``with rt.transaction():``: input writes grouped into one revision (issue 11: "Atomic multi-input writes").

Readers see all of a transaction's writes or none, an exception inside applies none, a
nested block joins the outer one, and derived calls inside are refused.  Executions are
counted through the shared execution log (tests/execution_log.py).
"""
from __future__ import annotations

import pytest

from runtime import (
    Change,
    InputWriteError,
    MissingInputError,
    Runtime,
    RuntimeEngineError,
    changes,
    declare_input,
    derived,
)
from tests.execution_log import assert_log, log

from .threads import Worker

#: What ``changes(rt)`` returned to ``maintained_pair``, one entry per execution.
REPORTED: list[tuple[Change, ...] | None] = []


@pytest.fixture(autouse=True)
def _clear_reported() -> None:
    REPORTED.clear()


class Boom(Exception):
    """The error raised inside a transaction."""


@declare_input
def left(rt) -> int:
    """Set to k in the same transaction as ``right`` is set to -k."""


@declare_input
def right(rt) -> int:
    """Set to -k in the same transaction as ``left`` is set to k."""


@declare_input
def extra(rt) -> int:
    """A third input, never set outside a transaction that is rolled back."""


@derived
def pair(rt) -> tuple[int, int]:
    """Both inputs, read in one computation."""
    log.add("pair")
    return (left(rt), right(rt))


@derived
def maintained_pair(rt) -> tuple[int, int]:
    """``pair``, maintained: records what ``changes`` reports."""
    log.add("maintained_pair")
    REPORTED.append(changes(rt))
    return (left(rt), right(rt))


@derived
def opens_transaction(rt) -> int:
    """Tries to open a transaction while it executes."""
    log.add("opens_transaction")
    with rt.transaction():
        left.set(rt, 99)
    return 0


def start(rt: Runtime, k: int = 0) -> int:
    """Set ``left`` to k and ``right`` to -k, compute ``pair``, forget the log; return the revision."""
    left.set(rt, k)
    right.set(rt, -k)
    assert pair(rt) == (k, -k)
    log.clear()
    return rt.revision


def test_many_writes_in_a_transaction_are_one_revision(rt):
    revision = start(rt)
    with rt.transaction():
        assert left.set(rt, 1) is True
        assert right.set(rt, -1) is True
        assert extra.set(rt, 5) is True
        left.set(rt, 2)
        right.set(rt, -2)
    assert rt.revision == revision + 1
    assert pair(rt) == (2, -2)
    assert extra(rt) == 5
    nodes = rt.explain(pair).to_dict()["nodes"]
    assert [nodes[n]["changed_at"] for n in nodes["n0"]["deps"]] == [revision + 1, revision + 1]
    assert_log(["pair"])


def test_a_reader_in_another_thread_during_a_transaction_sees_all_of_its_writes(rt):
    start(rt)
    with rt.transaction():
        left.set(rt, 1)
        reader = Worker(lambda: pair(rt))
        reader.start()
        assert reader.waits(), "the reader did not wait for the transaction"
        input_reader = Worker(lambda: right(rt))
        input_reader.start()
        assert input_reader.waits(), "the input read did not wait for the transaction"
        right.set(rt, -1)
    assert reader.outcome() == (1, -1)
    assert input_reader.outcome() == -1
    assert_log(["pair"])


def test_a_second_runtime_on_the_store_reading_during_a_transaction_sees_all_of_its_writes(rt, make_runtime):
    start(rt)
    other = make_runtime(rt.storage)
    with rt.transaction():
        left.set(rt, 1)
        reader = Worker(lambda: pair(other))
        reader.start()
        assert reader.waits(), "the reader did not wait for the transaction"
        right.set(rt, -1)
    assert reader.outcome() == (1, -1)


@pytest.mark.django_db(transaction=True)
def test_another_process_reading_during_a_transaction_sees_all_of_its_writes_or_none():
    from runtime.db.storage import DatabaseStorage

    rt = Runtime(DatabaseStorage("writes"))
    start(rt)
    other = Runtime(DatabaseStorage("writes"))  # its own store object: another process, as far as it can tell
    assert pair(other) == (0, 0)
    with rt.transaction():
        left.set(rt, 1)
        reader = Worker(lambda: pair(other))
        reader.start()
        reader.join(0.3)
        right.set(rt, -1)
    assert reader.outcome() in ((0, 0), (1, -1))
    assert pair(other) == (1, -1)


def test_an_exception_inside_a_transaction_applies_none_of_its_writes(rt):
    revision = start(rt, 1)
    with pytest.raises(Boom):
        with rt.transaction():
            left.set(rt, 2)
            right.set(rt, -2)
            extra.set(rt, 3)
            raise Boom("after three writes")
    assert rt.revision == revision
    assert (left(rt), right(rt)) == (1, -1)
    with pytest.raises(MissingInputError, match="was never set"):
        extra(rt)
    assert pair(rt) == (1, -1)
    assert_log([])  # still memoized at the same revision
    assert left.set(rt, 4) is True
    assert rt.revision == revision + 1
    assert pair(rt) == (4, -1)
    assert_log(["pair"])


def test_writes_rolled_back_leave_no_trace_in_what_a_maintained_function_is_told(rt):
    start(rt, 1)
    assert maintained_pair(rt) == (1, -1)
    with pytest.raises(Boom):
        with rt.transaction():
            left.set(rt, 2)
            right.set(rt, -2)
            raise Boom("rolled back")
    assert maintained_pair(rt) == (1, -1)
    right.set(rt, -5)
    assert maintained_pair(rt) == (1, -5)
    assert REPORTED == [None, (Change(right, (), -1, -5),)]
    assert_log(["maintained_pair", "maintained_pair"])


def test_a_maintained_function_is_told_every_change_of_a_transaction_at_once(rt):
    start(rt, 1)
    maintained_pair(rt)
    with rt.transaction():
        right.set(rt, -2)
        left.set(rt, 2)
    assert maintained_pair(rt) == (2, -2)
    assert REPORTED == [None, (Change(left, (), 1, 2), Change(right, (), -1, -2))]


def test_a_nested_transaction_joins_the_outer_one(rt):
    revision = start(rt)
    with rt.transaction():
        left.set(rt, 1)
        with rt.transaction():
            right.set(rt, -1)
        reader = Worker(lambda: pair(rt))
        reader.start()
        assert reader.waits(), "the inner block's end let a reader in before the outer one ended"
        extra.set(rt, 1)
    assert rt.revision == revision + 1
    assert reader.outcome() == (1, -1)


def test_an_exception_out_of_a_nested_transaction_undoes_the_outer_one_s_writes_too(rt):
    revision = start(rt, 1)
    with pytest.raises(Boom):
        with rt.transaction():
            left.set(rt, 2)
            with rt.transaction():
                right.set(rt, -2)
                raise Boom("inner")
    assert rt.revision == revision
    assert pair(rt) == (1, -1)
    assert_log([])


def test_an_error_caught_inside_the_outer_transaction_keeps_the_inner_block_s_writes(rt):
    revision = start(rt, 1)
    with rt.transaction():
        left.set(rt, 2)
        with pytest.raises(Boom):
            with rt.transaction():
                right.set(rt, -2)
                raise Boom("inner, caught by the outer block")
    assert rt.revision == revision + 1
    assert pair(rt) == (2, -2)


def test_a_derived_call_inside_a_transaction_raises(rt):
    revision = start(rt)
    with rt.transaction():
        with pytest.raises(RuntimeEngineError, match=r"cannot compute pair\(rt\) inside a transaction"):
            pair(rt)  # memoized and current: still refused
        left.set(rt, 1)
        with pytest.raises(RuntimeEngineError, match=r"inside a transaction"):
            pair(rt)
        right.set(rt, -1)
    assert rt.revision == revision + 1
    assert pair(rt) == (1, -1)
    assert_log(["pair"])


def test_opening_a_transaction_inside_a_derived_function_raises_input_write_error(rt):
    revision = start(rt)
    with pytest.raises(InputWriteError, match=r"cannot open a transaction while opens_transaction\(rt\) is executing"):
        opens_transaction(rt)
    assert rt.revision == revision
    assert left(rt) == 0
    assert_log(["opens_transaction"])


def test_a_transaction_without_effective_writes_starts_no_revision(rt):
    revision = start(rt, 1)
    with rt.transaction():
        pass
    with rt.transaction():
        assert left.set(rt, 1) is False
        assert right.set(rt, -1) is False
    assert rt.revision == revision
    assert pair(rt) == (1, -1)
    assert_log([])
