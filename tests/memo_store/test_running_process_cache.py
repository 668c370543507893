"""A running process keeps the rows it read across revisions that only changed inputs.

Another process (here: another ``DatabaseStorage`` on the same namespace) changes inputs;
the running one follows the revision log, forgets only those inputs, and re-verifies from
what it holds.  Anything else (deleted memos, code changes, a gap in the log) makes it read
everything again.  Every answer must equal recomputing from scratch.
"""
from __future__ import annotations

import itertools

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime import Runtime
from runtime.db.gc import invalidate_memos
from runtime.db.models import Memo, RevisionLog, Verification
from runtime.db.storage import DatabaseStorage
from tests.execution_log import assert_log, log

from . import programs
from .checks import store_problems

pytestmark = pytest.mark.django_db(transaction=True)
_namespaces = itertools.count()


def _pair(namespace: str = "ns") -> tuple[Runtime, Runtime]:
    """A long-running reader and another process's writer on one namespace."""
    return Runtime(storage=DatabaseStorage(namespace)), Runtime(storage=DatabaseStorage(namespace))


def _memo_reads(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "runtime_memo m" in q["sql"]]


def test_an_unrelated_input_change_is_reverified_from_the_rows_held():
    reader, writer = _pair()
    programs.value.set(writer, 0, 1.0)
    assert programs.chain(reader, 199) == 200.0
    programs.value.set(writer, 1, 5.0)  # not read by the chain
    log.clear()
    with CaptureQueriesContext(connection) as queries:
        assert programs.chain(reader, 199) == 200.0
    assert_log([])
    assert reader.counters.verifications == 200
    assert _memo_reads(queries) == []  # no memo row read again
    assert any("runtime_revisionlog" in q["sql"] for q in queries)
    # The memos this process executed itself have their re-verification recorded.
    assert Verification.objects.filter(verified_at=reader.revision).count() == 200
    assert store_problems("ns") == []


def test_an_input_another_process_changed_is_read_again():
    reader, writer = _pair()
    programs.value.set(writer, 0, 1.0)
    assert programs.chain(reader, 99) == 100.0
    programs.value.set(writer, 0, 2.0)
    log.clear()
    assert programs.chain(reader, 99) == 101.0
    assert len(log.take()) == 100
    assert store_problems("ns") == []


def test_a_process_that_changed_an_input_itself_sees_the_change():
    rt = Runtime(storage=DatabaseStorage("ns"))
    programs.size.set(rt, 2)
    programs.value.set(rt, 0, 1.0)
    programs.value.set(rt, 1, 2.0)
    assert programs.total(rt) == 5.0
    programs.value.set(rt, 1, 3.0)
    assert programs.total(rt) == 10.0
    assert store_problems("ns") == []


def test_deleted_memos_make_a_running_process_read_everything_again():
    reader, writer = _pair()
    programs.value.set(writer, 0, 1.0)
    assert programs.chain(reader, 9) == 10.0
    invalidate_memos(Memo.objects.filter(label="chain(rt, 4)"), with_dependents=True)
    programs.value.set(writer, 1, 5.0)
    log.clear()
    with CaptureQueriesContext(connection) as queries:
        assert programs.chain(reader, 9) == 10.0
    assert sorted(log.take()) == [("chain", n) for n in range(4, 10)]
    assert _memo_reads(queries)
    assert store_problems("ns") == []


def test_a_gap_in_the_revision_log_makes_a_running_process_read_everything_again():
    reader, writer = _pair()
    programs.value.set(writer, 0, 1.0)
    assert programs.chain(reader, 9) == 10.0
    programs.value.set(writer, 0, 2.0)
    RevisionLog.objects.filter(revision=2).delete()
    with CaptureQueriesContext(connection) as queries:
        assert programs.chain(reader, 9) == 11.0
    assert _memo_reads(queries)


def test_a_failed_input_change_is_not_remembered():
    rt = Runtime(storage=DatabaseStorage("ns"))
    programs.size.set(rt, 1)
    programs.value.set(rt, 0, 2.0)
    assert programs.total(rt) == 4.0
    with pytest.raises(TypeError):
        programs.value.set(rt, 0, object())  # cannot be stored: the write rolls back
    assert programs.total(rt) == 4.0
    assert store_problems("ns") == []


def test_a_memo_another_process_re_executed_is_not_backdated_against_the_copy_read_before():
    """Found by the interleaving property: the reader's old copy of square(1) (0) equals its new value (0)
    again, but the writer's total saw square(1) = 1 in between, so square(1) must not keep its old changed_at."""
    reader, writer = _pair("rewritten")
    programs.size.set(writer, 4)
    for i in range(4):
        programs.value.set(writer, i, 0.0)
    assert programs.square(reader, 1) == 0.0  # the reader holds square(1) = 0, changed at an early revision
    programs.value.set(writer, 1, 1.0)
    assert programs.total(writer) == 1.0  # the writer re-executes square(1) = 1 and total reads it
    programs.value.set(writer, 1, 0.0)
    assert programs.total(reader) == 0.0
    assert store_problems("rewritten") == []


# Each step: (which runtime, action, cell, value).  Two runtimes stand for two processes.
steps = st.lists(
    st.tuples(st.sampled_from([0, 1]), st.sampled_from(["set", "total", "square", "chain"]),
              st.integers(0, 3), st.integers(-3, 3)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_interleaved_processes_always_answer_as_recomputing_from_scratch(script):
    namespace = f"mix-{next(_namespaces)}"
    runtimes = _pair(namespace)
    fresh_inputs = {"size": 4, **{i: 0.0 for i in range(4)}}
    programs.size.set(runtimes[0], 4)
    for i in range(4):
        programs.value.set(runtimes[1], i, 0.0)
    for who, action, cell, number in script:
        rt = runtimes[who]
        if action == "set":
            programs.value.set(rt, cell, float(number))
            fresh_inputs[cell] = float(number)
        elif action == "total":
            assert programs.total(rt) == sum(fresh_inputs[i] ** 2 for i in range(4))
        elif action == "square":
            assert programs.square(rt, cell) == fresh_inputs[cell] ** 2
        else:
            assert programs.chain(rt, cell) == fresh_inputs[0] + cell
    assert store_problems(namespace) == []


def test_an_input_change_rolled_back_by_the_callers_transaction_is_not_remembered():
    reader, writer = _pair()
    programs.size.set(reader, 1)
    programs.value.set(reader, 0, 2.0)
    assert programs.total(reader) == 4.0
    with pytest.raises(RuntimeError), transaction.atomic():
        programs.value.set(reader, 0, 3.0)
        raise RuntimeError("the caller's transaction fails after the input was set")
    programs.value.set(writer, 0, 5.0)  # another process's revision, numbered as the rolled-back one was
    assert programs.total(reader) == 25.0
    assert store_problems("ns") == []
