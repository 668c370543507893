"""memo_gc: the size report, each removal rule, batching under the namespace lock, and correct results after."""
from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runtime import Runtime, declare_input, derived
from runtime.db.gc import collect_garbage
from runtime.db.models import InputValue, Memo, MemoDependency, Namespace, RevisionLog
from runtime.db.selectors import distinct_functions, function_code_versions
from runtime.db.services import namespace_mark_deleted
from runtime.db.storage import DatabaseStorage, NamespaceDeleted
from tests.execution_log import log

pytestmark = pytest.mark.django_db


@declare_input
def cell(rt, i: int) -> float:
    """One cell of data."""


@derived
def double(rt, i: int) -> float:
    log.add(("double", i))
    return 2 * cell(rt, i)


@derived
def plus_one(rt, i: int) -> float:
    log.add(("plus_one", i))
    return double(rt, i) + 1


def _populate(namespace: str, cells: int = 5) -> Runtime:
    """``cells`` inputs, and double and plus_one of each (plus_one reads double)."""
    rt = Runtime(storage=DatabaseStorage(namespace))
    for i in range(cells):
        cell.set(rt, i, float(i))
    with rt.unit_of_work():
        for i in range(cells):
            plus_one(rt, i)
    return rt


def _gc(*args: str) -> str:
    out = io.StringIO()
    call_command("memo_gc", *args, stdout=out, stderr=out)
    return out.getvalue()


def _memos(namespace: str) -> list[str]:
    return sorted(Memo.objects.filter(namespace__name=namespace).values_list("label", flat=True))


def _assert_correct(rt: Runtime, cells: int = 5) -> None:
    assert [plus_one(rt, i) for i in range(cells)] == [2.0 * i + 1 for i in range(cells)]


def test_report_shows_rows_edges_and_value_bytes_per_namespace_and_function_and_deletes_nothing():
    _populate("a")
    _populate("b", cells=2)
    out = _gc()
    line = next(line for line in out.splitlines() if line.startswith("a ") and line.split()[2] == plus_one.id)
    assert line.split()[1:5] == ["derived", plus_one.id, "5", "5"]  # 5 memos, each with one edge
    assert int(line.split()[5]) > 0  # encoded value bytes
    assert re.search(rf"^b\s+input\s+{cell.id}\s+2\s+0\s+\d+$", out, re.M)
    assert re.search(r"^total\s+21\s+14\s+\d[\d,]*$", out, re.M)  # (5+5+5) + (2+2+2) rows, one edge per memo
    assert "Would remove (dry run" in out and "nothing" in out
    assert Memo.objects.count() == 14


def test_deleted_namespace_is_removed_entirely():
    rt = _populate("gone")
    _populate("kept", cells=2)
    assert namespace_mark_deleted("gone") is True
    assert namespace_mark_deleted("gone") is False
    with pytest.raises(NamespaceDeleted):
        plus_one(rt, 0)
    dry = _gc()
    assert re.search(r"^gone\s+deleted namespace\s+everything\s+10\s+10\s+5\s+5\s+0$", dry, re.M)
    assert Namespace.objects.filter(name="gone").exists()
    out = _gc("--delete")
    assert re.search(r"^gone\s+deleted namespace\s+everything\s+10\s+10\s+5\s+5\s+0$", out, re.M)
    assert not Namespace.objects.filter(name="gone").exists()
    ns_ids = Namespace.objects.values_list("id", flat=True)
    for model in (Memo, MemoDependency, InputValue, RevisionLog):
        assert not model.objects.exclude(namespace_id__in=ns_ids).exists()
    assert len(_memos("kept")) == 4
    with pytest.raises(Namespace.DoesNotExist):
        namespace_mark_deleted("never-existed")


def test_unverified_before_removes_memos_not_verified_since_that_revision():
    rt = _populate("ns")  # revision 5, every memo verified at 5
    cell.set(rt, 0, 10.0)  # revision 6
    assert plus_one(rt, 0) == 21.0 and plus_one(rt, 1) == 3.0  # verified at 6; the others stay at 5
    out = _gc("--unverified-before", "6", "--delete")
    assert re.search(r"^ns\s+unverified\s+verified before revision 6\s+6\s+6\s+0\s+0\s+0$", out, re.M)
    assert _memos("ns") == ["double(rt, 0)", "double(rt, 1)", "plus_one(rt, 0)", "plus_one(rt, 1)"]
    log.clear()
    assert [plus_one(rt, i) for i in range(5)] == [21.0, 3.0, 5.0, 7.0, 9.0]
    assert sorted(log.take()) == [("double", 2), ("double", 3), ("double", 4), ("plus_one", 2), ("plus_one", 3),
                                  ("plus_one", 4)]


def test_stale_code_removes_memos_of_other_code_versions_and_of_functions_that_are_gone(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    rt = _populate("ns")
    Memo.objects.filter(label="double(rt, 1)").update(code_version="0:old")
    Memo.objects.filter(label="double(rt, 2)").update(function="tests.memo_store.no_such_module.double")
    Memo.objects.filter(label="double(rt, 3)").update(function=f"{__name__}.no_such_function")
    Memo.objects.filter(label="plus_one(rt, 0)").update(function=f"{__name__}.cell")  # now an input
    (tmp_path / "gc_broken_module.py").write_text("raise RuntimeError('cannot import me')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    Memo.objects.filter(label="plus_one(rt, 4)").update(function="gc_broken_module.plus_one")
    Memo.objects.filter(label="plus_one(rt, 3)").update(function="no_such_package.module.plus_one")
    Memo.objects.filter(label="plus_one(rt, 2)").update(function="__main__.plus_one")
    dry = _gc("--stale-code")
    assert "code other than" in dry and "no longer a declared derived function" in dry
    for cannot_tell in ("gc_broken_module.plus_one: RuntimeError", "no_such_package.module.plus_one: LookupError",
                        "__main__.plus_one: LookupError"):
        assert f"skipped (cannot tell whether it exists; memos kept): {cannot_tell}" in dry
    assert len(_memos("ns")) == 10
    _gc("--stale-code", "--delete")
    assert _memos("ns") == ["double(rt, 0)", "double(rt, 4)", "plus_one(rt, 1)", "plus_one(rt, 2)",
                            "plus_one(rt, 3)", "plus_one(rt, 4)"]
    Memo.objects.filter(label__in=["plus_one(rt, 2)", "plus_one(rt, 3)", "plus_one(rt, 4)"]).delete()
    log.clear()
    _assert_correct(rt)  # memos verified at this revision are served; the missing ones re-execute
    assert sorted(log.take()) == [("double", 2), ("double", 3), ("plus_one", 0), ("plus_one", 2), ("plus_one", 3),
                                  ("plus_one", 4)]
    cell.set(rt, 4, 4.5)  # at the next revision, memos that read a removed one re-execute
    assert [plus_one(rt, i) for i in range(5)] == [1.0, 3.0, 5.0, 7.0, 10.0]
    assert sorted(log.take()) == [("double", 1), ("double", 4), ("plus_one", 1), ("plus_one", 4)]


def test_each_batch_is_one_locked_transaction():
    rt = _populate("ns")
    with CaptureQueriesContext(connection) as queries:
        result = collect_garbage(unverified_before=100, delete=True, batch_size=2)
    assert [(r.memos, r.edges) for r in result.removals] == [(10, 10)]
    sql = [q["sql"] for q in queries]
    memo_deletes = [i for i, s in enumerate(sql) if s.startswith('DELETE FROM "runtime_memo" ')]
    assert len(memo_deletes) == 5  # 10 memos, 2 per batch
    for i in memo_deletes:  # each batch: lock, bump the epoch, select ids, delete edges and verifications, memos
        assert sql[i - 1].startswith('DELETE FROM "runtime_verification" WHERE memo_id IN (')
        assert sql[i - 2].startswith('DELETE FROM "runtime_memodependency" WHERE memo_id IN (')
        assert sql[i - 4].startswith('UPDATE "runtime_namespace" SET "epoch"')
        assert '"runtime_namespace"' in sql[i - 5]
        if connection.features.has_select_for_update:
            assert sql[i - 5].endswith("FOR UPDATE")
    log.clear()
    _assert_correct(rt)
    assert len(log.take()) == 10


def test_a_deleted_namespace_is_dropped_in_batches():
    _populate("gone")
    namespace_mark_deleted("gone")
    with CaptureQueriesContext(connection) as queries:
        collect_garbage(delete=True, batch_size=2)
    deletes = [q["sql"].split(" WHERE")[0] for q in queries if q["sql"].startswith("DELETE")]
    assert deletes == (
        ['DELETE FROM "runtime_memodependency"'] * 5
        + ['DELETE FROM "runtime_verification"', 'DELETE FROM "runtime_memo"'] * 5
        + ['DELETE FROM "runtime_inputvalue"'] * 3
        + ['DELETE FROM "runtime_revisionlog"'] * 3
        + ['DELETE FROM "runtime_functioncode"']
        + ['DELETE FROM "runtime_namespace"']
    )
    assert not Namespace.objects.filter(name="gone").exists()


def test_namespace_option_restricts_every_rule():
    _populate("a")
    _populate("b")
    namespace_mark_deleted("b")
    out = _gc("--namespace", "a", "--unverified-before", "100", "--delete")
    assert "\nb " not in out and _memos("a") == [] and len(_memos("b")) == 10
    with pytest.raises(CommandError, match="no namespace named 'c'"):
        _gc("--namespace", "c")
    with pytest.raises(CommandError, match="--batch-size"):
        _gc("--batch-size", "0")


def test_loose_scans_list_distinct_functions_and_code_versions():
    _populate("a", cells=2)
    _populate("b", cells=1)
    Memo.objects.filter(namespace__name="b", function=double.id).update(code_version="0:old")
    a = Namespace.objects.get(name="a").pk
    assert sorted(distinct_functions(Memo)) == sorted([double.id, plus_one.id])
    assert distinct_functions(InputValue, [a]) == [cell.id]
    assert distinct_functions(Memo, []) == []
    assert sorted(function_code_versions()) == sorted([(double.id, double.code), (double.id, "0:old"),
                                               (plus_one.id, plus_one.code)])
