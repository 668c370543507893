"""The memo store survives restarts, round-trips values exactly and never serves other code's memos."""
from __future__ import annotations

import math

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from runtime import DerivedFunction, Runtime, derived
from runtime.db.codec import decode, encode, register_codec
from runtime.db.models import FunctionCode, Memo, MemoDependency, Namespace, RevisionLog, Verification
from runtime.db.storage import DatabaseStorage
from runtime.function import REGISTRY
from runtime.values import values_equal
from tests.execution_log import assert_log, log

from . import programs
from .checks import store_problems

pytestmark = pytest.mark.django_db(transaction=True)


def _runtime(namespace: str = "ns") -> Runtime:
    return Runtime(storage=DatabaseStorage(namespace))


def test_restarted_runtime_sees_same_revision_inputs_and_memos():
    first = _runtime()
    programs.size.set(first, 3)
    for i in range(3):
        programs.value.set(first, i, float(i))
    assert programs.total(first) == 5.0
    log.clear()
    second = _runtime()  # a new process opening the same namespace
    assert second.revision == first.revision == 4
    assert programs.value(second, 2) == 2.0
    assert programs.total(second) == 5.0
    assert_log([])
    assert second.counters.executions == 0


def test_namespaces_are_independent():
    a, b = _runtime("a"), _runtime("b")
    programs.size.set(a, 1)
    programs.value.set(a, 0, 2.0)
    programs.size.set(b, 1)
    programs.value.set(b, 0, 3.0)
    programs.value.set(b, 0, 4.0)
    assert (programs.total(a), programs.total(b)) == (4.0, 16.0)
    assert (a.revision, b.revision) == (2, 3)
    assert Memo.objects.filter(namespace__name="a").count() == 2


def test_revision_log_records_each_change_with_process():
    rt = _runtime()
    programs.value.set(rt, 0, 1.0)
    programs.value.set(rt, 0, 1.0)  # equal: no revision
    programs.value.delete(rt, 0)
    log = list(RevisionLog.objects.order_by("revision").values_list("revision", "action", "args"))
    assert log == [(1, "set", "value(rt, 0)"), (2, "delete", "value(rt, 0)")]
    assert ":" in RevisionLog.objects.first().process


def test_memo_rows_hold_ordered_edges_and_consistent_revisions():
    rt = _runtime()
    programs.size.set(rt, 4)
    for i in range(4):
        programs.value.set(rt, i, float(i))
    programs.total(rt)
    row = Memo.objects.get(function=programs.total.id)
    deps = list(MemoDependency.objects.filter(memo=row).values_list("position", "kind", "function"))
    assert deps[0] == (0, "input", programs.size.id)
    assert [d[2] for d in deps[1:]] == [programs.square.id] * 4
    assert row.executed_at == row.changed_at == 5
    assert not Verification.objects.filter(memo=row).exists()  # verified at its execution
    assert store_problems("ns") == []


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5)
    | st.binary(max_size=5)
    | hnp.arrays(
        dtype=st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.uint16, np.bool_, np.complex128]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
    )
    | hnp.from_dtype(np.dtype(np.float32)).map(np.float32)
    | st.integers(-100, 100).map(np.int16),
    lambda children: st.lists(children, max_size=3)
    | st.lists(children, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=3) | st.integers(), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_codec_round_trips_values_exactly(value):
    back = decode(encode(value))
    assert values_equal(back, value)
    assert type(back) is type(value)
    assert encode(back) == encode(value)


@derived
def stored(rt, which: int):
    return {
        0: (None, True, 2**80, -0.0, math.inf, "s", b"b", [1, (2,)], {"k": {1: 2.5}}),
        1: np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        2: (np.float64("nan"), np.int8(-3), np.array([[np.nan, -0.0]])),
    }[which]


@pytest.mark.parametrize("which", [0, 1, 2])
def test_memoized_values_round_trip_through_the_table(which):
    _runtime().storage  # noqa: B018
    expected = stored(Runtime(), which)
    stored(_runtime(), which)
    reread = stored(_runtime(), which)
    assert values_equal(reread, expected)
    assert encode(reread) == encode(expected)


@derived
def returns_a_set(rt):
    return {1, 2}


def test_unstorable_value_is_a_type_error_naming_function_and_type():
    rt = _runtime()
    with pytest.raises(TypeError, match=r"returns_a_set\(rt\).*type set"):
        returns_a_set(rt)
    assert not Memo.objects.exists()


class Money:
    """A custom value type, stored through a registered codec."""

    def __init__(self, cents: int) -> None:
        self.cents = cents

    def __eq__(self, other: object) -> bool:
        return type(other) is Money and other.cents == self.cents


register_codec(Money, "tests.Money", lambda m: m.cents, Money)


@derived
def price(rt, cents: int) -> Money:
    log.add(("price", cents))
    return Money(cents)


def test_registered_codec_makes_a_type_storable():
    price(_runtime(), 250)
    log.clear()
    assert price(_runtime(), 250) == Money(250)
    assert_log([])


def _declare(version: int, body) -> DerivedFunction:
    """Declare ``body`` as the derived function ``tests.memo_store.test_persistence.evolving``."""
    body.__module__, body.__qualname__, body.__name__ = __name__, "evolving", "evolving"
    return derived(version=version)(body)


def test_memos_of_other_code_are_not_served():
    def v1(rt):
        log.add("v1")
        return 1

    def v2(rt):
        log.add("v2")
        return 2

    assert _declare(0, v1)(_runtime()) == 1
    assert _declare(0, v1)(_runtime()) == 1  # same code: served
    assert _declare(0, v2)(_runtime()) == 2  # changed code: re-executed
    assert _declare(1, v2)(_runtime()) == 2  # bumped version: re-executed
    assert_log(["v1", "v2", "v2"])
    assert Memo.objects.get(function=f"{__name__}.evolving").code_version.startswith("1:")


@derived
def uses_evolving(rt) -> int:
    log.add("uses")
    return REGISTRY.lookup(f"{__name__}.evolving")(rt) * 10


def test_a_restart_with_changed_code_reexecutes_the_dependents_too():
    def v1(rt):
        return 1

    def v2(rt):
        return 2

    _declare(0, v1)
    assert uses_evolving(_runtime()) == 10
    _declare(0, v2)  # a deploy: the next process declares other code for `evolving`
    restarted = _runtime()
    assert uses_evolving(restarted) == 20
    assert restarted.revision == 1
    assert FunctionCode.objects.get(function=f"{__name__}.evolving").code_version == REGISTRY.lookup(
        f"{__name__}.evolving"
    ).code
    assert list(RevisionLog.objects.values_list("revision", "action", "function")) == [
        (1, "code", f"{__name__}.evolving")
    ]


def test_reverifying_a_chain_of_1000_memos_takes_at_most_10_queries():
    rt = _runtime()
    programs.value.set(rt, 0, 1.0)
    programs.value.set(rt, 1, 1.0)
    programs.chain(rt, 999)
    programs.value.set(rt, 1, 2.0)  # not read by the chain
    log.clear()
    fresh = _runtime()
    with CaptureQueriesContext(connection) as queries:
        assert programs.chain(fresh, 999) == 1000.0
    assert_log([])
    assert fresh.counters.verifications == 1000
    assert len(queries) <= 10, [q["sql"][:80] for q in queries]
    assert Memo.objects.with_verified_at().filter(verified_at=3).count() == 1000
    assert Verification.objects.filter(verified_at=3).count() == 1000  # re-verification writes only these


def test_writing_1000_new_memos_takes_at_most_10_queries():
    rt = _runtime()
    programs.value.set(rt, 0, 1.0)
    with CaptureQueriesContext(connection) as queries:
        assert programs.chain(rt, 999) == 1000.0
    assert rt.counters.executions == 1000
    assert len(queries) <= 10, [q["sql"][:80] for q in queries]
    assert Memo.objects.count() == 1000
    assert MemoDependency.objects.count() == 1000


def test_a_change_made_by_another_runtime_is_seen_at_the_next_call():
    reader, writer = _runtime(), _runtime()
    programs.size.set(writer, 1)
    programs.value.set(writer, 0, 3.0)
    assert programs.total(reader) == 9.0
    programs.value.set(writer, 0, 4.0)
    assert programs.total(reader) == 16.0
    assert reader.revision == 3
    assert store_problems("ns") == []


def _queries_for_square_calls(namespace: str, cells: int) -> int:
    rt = _runtime(namespace)
    programs.size.set(rt, cells)
    for i in range(cells):
        programs.value.set(rt, i, float(i))
    with CaptureQueriesContext(connection) as queries:
        with rt.unit_of_work():
            for i in range(cells):
                programs.square(rt, i)
            programs.total(rt)
    assert rt.counters.executions == cells + 1
    assert Namespace.objects.get(name=namespace).memos.count() == cells + 1
    return len(queries)


def test_calls_in_one_unit_of_work_share_one_load_and_one_write():
    # Four functions read (two bulk loads after a first single read each), one write:
    # the count depends on how many functions, not on how many calls.
    assert _queries_for_square_calls("small", 20) == _queries_for_square_calls("large", 80) <= 14


def test_values_of_memos_loaded_whole_are_read_in_one_query_at_first_use():
    rt = _runtime()
    programs.size.set(rt, 20)
    for i in range(20):
        programs.value.set(rt, i, float(i))
    assert programs.total(rt) == sum(float(i) ** 2 for i in range(20))
    programs.value.set(rt, 0, 10.0)  # total re-executes and reads the 19 squares it did not change
    fresh = _runtime()
    with CaptureQueriesContext(connection) as queries:
        assert programs.total(fresh) == 100.0 + sum(float(i) ** 2 for i in range(1, 20))
    square_reads = [q["sql"] for q in queries if "runtime_memo m" in q["sql"] and programs.square.id in q["sql"]]
    assert len(square_reads) == 2  # what verification needs, then (at the first value used) the values
    assert "value_digest" not in square_reads[0] and "value_digest" in square_reads[1]
    assert store_problems("ns") == []
