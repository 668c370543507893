"""Maintained memos and transactions on the database store (issue 11).

A maintained memo's input dependencies come back after a restart and in other processes,
read by key rather than loaded whole; the old values ``changes`` reports survive overwrites
and restarts (archived), and ``memo_gc`` keeps exactly the archived versions an edge still
names; a transaction is one revision that other processes see all or none of, and that
applies nothing when it raises; bringing a maintained total up to date costs a number of
queries that does not grow with the number of inputs.
"""
from __future__ import annotations

import json
import re
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from runtime import MISSING, Change, Runtime, changes, derived, previous_output
from runtime.db.admin import LINKS_SHOWN
from runtime.db.gc import collect_garbage
from runtime.db.models import InputValue, InputVersion, Memo, MemoDependency, RevisionLog
from runtime.db.storage import DatabaseStorage
from tests.execution_log import assert_log, log

from . import programs
from .checks import store_problems
from .test_concurrency import _result, _start

pytestmark = pytest.mark.django_db(transaction=True)
item, count, running_total = programs.item, programs.count, programs.running_total


def _runtime(namespace: str = "ns") -> Runtime:
    return Runtime(storage=DatabaseStorage(namespace))


def _fill(rt: Runtime, n: int) -> None:
    """count = n and item k = k for k in 1..n, in one transaction."""
    with rt.transaction():
        count.set(rt, n)
        for k in range(1, n + 1):
            item.set(rt, k, float(k))


def _deltas() -> list:
    """The changes each running_total execution was told of since the last check (None: from scratch)."""
    return [entry[1] for entry in log.take() if entry[0] == "running_total"]


def _row() -> Memo:
    return Memo.objects.get(function=running_total.id)


# -- persistence ----------------------------------------------------------------------------


def test_maintained_memo_survives_restart_with_correct_diffs():
    rt = _runtime()
    _fill(rt, 5)
    assert running_total(rt) == (5, 15.0)
    assert _deltas() == [None]
    row = _row()
    assert (row.maintained, row.input_count) == (True, 6)  # count and five items
    assert not MemoDependency.objects.filter(memo=row, kind="derived").exists()
    read_at = dict(MemoDependency.objects.filter(memo=row, kind="input").values_list("args_key", "read_at"))
    assert read_at == {"()": 1, **{f"({k},)": 1 for k in range(1, 6)}}

    item.set(rt, 2, 20.0)
    restarted = _runtime()
    assert running_total(restarted) == (5, 33.0)
    assert _deltas() == [(("item", (2,), 2.0, 20.0),)]
    item.delete(restarted, 3)
    again = _runtime()
    assert running_total(again) == (5, 30.0)
    assert _deltas() == [(("item", (3,), 3.0, MISSING),)]
    with again.transaction():
        count.set(again, 6)
        item.set(again, 6, 6.0)
        item.set(again, 3, 7.0)  # a deleted input is still a dependency: set again, it is a change
    assert running_total(_runtime()) == (6, 43.0)
    assert _deltas() == [(("count", (), 5, 6), ("item", (3,), MISSING, 7.0))]
    assert _row().input_count == 7
    assert running_total(_runtime()) == (6, 43.0)
    assert _deltas() == []
    assert store_problems("ns") == []


def test_loading_a_maintained_memo_reads_no_input_edges():
    rt = _runtime()
    _fill(rt, 50)
    running_total(rt)
    restarted = _runtime()
    with CaptureQueriesContext(connection) as queries:
        assert running_total(restarted) == (50, 1275.0)
    assert not [q for q in queries if "runtime_memodependency" in q["sql"]]
    item.set(restarted, 7, 0.0)
    later = _runtime()
    with CaptureQueriesContext(connection) as queries:
        assert running_total(later) == (50, 1268.0)
    edge_reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "runtime_memodependency" in q["sql"]]
    assert edge_reads and all("key_digest IN" in sql and sql.count("'") <= 4 for sql in edge_reads)  # one or two keys


@derived
def fragile_total(rt) -> float:
    """Like running_total over items 1..3, but its value cannot be stored while item 1 is negative."""
    prev, delta = previous_output(rt), changes(rt)
    log.add(("fragile_total", None if delta is None else tuple((c.key, c.old, c.new) for c in delta)))
    if prev is None or delta is None:
        total = sum(item(rt, k) for k in range(1, 4))
    else:
        total = prev + sum(c.new - c.old for c in delta)
    return object() if item(rt, 1) < 0 else total


def test_a_maintained_execution_whose_value_cannot_be_stored_changes_nothing_it_carried_over():
    rt = _runtime()
    _fill(rt, 3)
    assert fragile_total(rt) == 6.0
    item.set(rt, 1, -1.0)
    with pytest.raises(TypeError, match="cannot be stored"):
        fragile_total(rt)
    item.set(rt, 1, 10.0)
    assert fragile_total(rt) == 15.0  # told 1.0 -> 10.0: what the stored memo read, not the failed execution
    assert fragile_total(_runtime()) == 15.0
    assert [entry[1] for entry in log.take()] == [None, (((1,), 1.0, -1.0),), (((1,), 1.0, 10.0),)]


@derived
def reported(rt) -> tuple:
    """What changes() returned, as the value: Change records and MISSING must round-trip through the codec."""
    delta = changes(rt)
    for k in range(1, count(rt) + 1):
        programs._present(rt, k)
    return (MISSING,) if delta is None else delta


def test_changes_and_missing_round_trip_as_values():
    rt = _runtime()
    _fill(rt, 2)
    assert reported(rt) == (MISSING,)
    item.delete(rt, 2)
    value = reported(rt)
    assert value == (Change(item, (2,), 2.0, MISSING),)
    restarted = reported(_runtime())  # decoded from the row
    assert restarted == value and restarted[0].function is item and restarted[0].new is MISSING


# -- old values -----------------------------------------------------------------------------


def test_old_values_come_from_the_archive_after_overwrites_and_restarts():
    rt = _runtime()
    _fill(rt, 3)
    running_total(rt)
    log.clear()
    item.set(rt, 1, 10.0)
    item.set(rt, 1, 100.0)  # the intermediate version was read by no memo: not archived
    item.delete(rt, 2)
    assert sorted(InputVersion.objects.values_list("args_key", "changed_at", "deleted")) == [
        ("(1,)", 1, False), ("(2,)", 1, False)
    ]
    assert running_total(_runtime()) == (3, 103.0)
    assert _deltas() == [(("item", (1,), 1.0, 100.0), ("item", (2,), 2.0, MISSING))]
    item.set(rt, 2, 5.0)  # the tombstone this memo read is archived in turn
    assert InputVersion.objects.filter(args_key="(2,)", deleted=True).exists()
    assert running_total(_runtime()) == (3, 108.0)
    assert _deltas() == [(("item", (2,), MISSING, 5.0),)]


def test_a_memo_that_read_a_version_overwritten_before_its_flush_is_not_stored():
    rt = _runtime()
    _fill(rt, 3)
    running_total(rt)
    log.clear()
    item.set(rt, 1, 10.0)
    other = _runtime()  # another store object on the namespace, as another process would be
    with rt.unit_of_work():
        assert running_total(rt) == (3, 15.0)  # reads item 1 at its new version, not yet stored
        item.set(other, 1, 50.0)  # overwritten before any edge names that version: not archived
    assert _row().executed_at == 1  # the previous row is kept
    assert running_total(_runtime()) == (3, 55.0)
    assert _deltas() == [(("item", (1,), 1.0, 10.0),), (("item", (1,), 1.0, 50.0),)]  # both from the row kept
    assert store_problems("ns") == []


def test_memo_gc_keeps_versions_an_edge_names_and_drops_the_rest():
    rt = _runtime()
    _fill(rt, 3)
    running_total(rt)
    item.set(rt, 1, 10.0)
    item.delete(rt, 2)
    assert InputVersion.objects.count() == 2
    result = collect_garbage(delete=True)
    assert InputVersion.objects.count() == 2  # the memo's edges still name both
    assert not result.removals
    assert running_total(rt) == (3, 13.0)  # re-executed: its edges now name the current versions
    dry = collect_garbage()
    assert [(r.rule, r.versions) for r in dry.removals] == [("old input values", 2)]
    assert InputVersion.objects.count() == 2
    call_command("memo_gc", "--delete", stdout=open("/dev/null", "w"))
    assert InputVersion.objects.count() == 0
    item.set(rt, 3, 30.0)
    assert InputVersion.objects.count() == 1
    Memo.objects.filter(function=running_total.id).delete()  # the memo goes: nothing names it
    collect_garbage(delete=True)
    assert InputVersion.objects.count() == 0


# -- transactions -----------------------------------------------------------------------------


def test_a_failed_transaction_applies_nothing_and_a_later_one_works():
    rt = _runtime()
    _fill(rt, 2)
    assert running_total(rt) == (2, 3.0)
    before = rt.revision
    with pytest.raises(RuntimeError, match="boom"):
        with rt.transaction():
            item.set(rt, 1, 100.0)
            item.delete(rt, 2)
            raise RuntimeError("boom")
    assert rt.storage.revision == before == rt.revision
    other = _runtime()
    assert (other.revision, programs.items(other, 2)) == (before, (1.0, 2.0))
    assert (item(rt, 1), item(rt, 2)) == (1.0, 2.0)
    assert running_total(rt) == (2, 3.0)
    assert not InputVersion.objects.exists()
    log.clear()
    with rt.transaction():
        item.set(rt, 1, 100.0)
        item.delete(rt, 2)
    assert rt.revision == before + 1
    assert list(RevisionLog.objects.filter(revision=before + 1).order_by("id").values_list("action", "args")) == [
        ("set", "item(rt, 1)"), ("delete", "item(rt, 2)")
    ]
    assert running_total(other) == (2, 100.0)
    assert _deltas() == [(("item", (1,), 1.0, 100.0), ("item", (2,), 2.0, MISSING))]


@pytest.mark.slow
def test_other_processes_see_a_transaction_all_or_none():
    rt = _runtime()
    _fill(rt, 3)
    programs.items(rt, 3)
    watcher = _start("watch_items", "ns", "3", "3")
    assert watcher.stdout.readline().strip() == "ready"  # it read the first state
    for j in range(4):
        with rt.transaction():
            for k in range(1, 4):
                item.set(rt, k, float(10 * (j + 1)))
                time.sleep(0.05)
    with pytest.raises(RuntimeError):
        with rt.transaction():
            item.set(rt, 1, -1.0)
            time.sleep(0.1)
            raise RuntimeError("abandoned")
    seen = _result(watcher)["seen"]
    assert {tuple(values) for _, values in seen} <= {(1.0, 2.0, 3.0), *((10.0 * j,) * 3 for j in range(1, 5))}
    assert (1.0, 2.0, 3.0) in {tuple(values) for _, values in seen}
    assert len({revision for revision, _ in seen}) > 1  # it saw transactions commit
    assert store_problems("ns") == []


@pytest.mark.slow
def test_a_second_process_writing_inputs_gives_correct_diffs_in_the_first():
    rt = _runtime()
    _fill(rt, 5)
    assert running_total(rt) == (5, 15.0)
    log.clear()
    _result(_start("set_items", "ns", json.dumps({"2": 20.0, "4": None, "count": 6, "6": 6.0})))
    assert running_total(rt) == (6, 35.0)
    assert _deltas() == [(("count", (), 5, 6), ("item", (2,), 2.0, 20.0), ("item", (4,), 4.0, MISSING))]
    other = _result(_start("running_total", "ns"))  # a third process serves the first one's memo
    assert (other["total"], other["log"]) == ([6, 35.0], [])
    _result(_start("set_items", "ns", json.dumps({"1": 0.0})))
    other = _result(_start("running_total", "ns"))  # maintained there, from the row the first wrote
    assert other["total"] == [6, 34.0]
    assert other["log"] == [["running_total", [["item", [1], 1.0, 0.0]]]]
    _result(_start("set_items", "ns", json.dumps({"4": 4.0})))
    # The other process re-executed the memo to a new value since the first read it: the first
    # forgets its copy, reads that process's row and maintains from it (only item 4 is new to it).
    assert running_total(rt) == (6, 38.0)
    assert _deltas() == [(("item", (4,), MISSING, 4.0),)]
    other = _result(_start("running_total", "ns"))  # the row the first process wrote
    assert (other["total"], other["log"]) == ([6, 38.0], [])
    assert running_total(rt) == (6, 38.0)
    assert _deltas() == []
    assert store_problems("ns") == []


# -- cost -------------------------------------------------------------------------------------


def _queries_to_update(n: int) -> dict[str, int]:
    """Queries to bring running_total up to date after each kind of change: warm (the writer's process,
    or another writer's), and after a restart (a new store on the namespace)."""
    namespace = f"cost-{n}"
    rt, writer = _runtime(namespace), _runtime(namespace)
    _fill(rt, n)
    running_total(rt)
    steps = [
        ("set", "warm", lambda r: item.set(r, 5, 0.0)),
        ("set", "other writer", lambda r: item.set(writer, 10, 0.0)),
        ("set", "restart", lambda r: item.set(r, 9, 0.0)),
        ("delete", "warm", lambda r: item.delete(r, 6)),
        ("delete", "restart", lambda r: item.delete(r, 8)),
        ("new key", "warm", lambda r: (count.set(r, n + 1), item.set(r, n + 1, 1.0))),
        ("new key", "restart", lambda r: (count.set(r, n + 2), item.set(r, n + 2, 1.0))),
    ]
    counts = {}
    for label, where, change in steps:
        if where == "restart":
            rt = _runtime(namespace)
        with rt.transaction():
            change(rt)
        with CaptureQueriesContext(connection) as queries:
            running_total(rt)
        counts[f"{label}, {where}"] = len(queries)
    assert running_total(rt) == (n + 2, n * (n + 1) / 2 - 5 - 10 - 9 - 6 - 8 + 1 + 1)
    return counts


def test_bringing_a_maintained_total_up_to_date_costs_queries_independent_of_n():
    small, large = _queries_to_update(100), _queries_to_update(2000)
    assert small == large
    assert max(small.values()) <= 20


def test_a_carried_over_execution_writes_only_the_edges_it_saw():
    rt = _runtime()
    _fill(rt, 2000)
    running_total(rt)
    item.set(rt, 5, 0.0)
    with CaptureQueriesContext(connection) as queries:
        running_total(rt)
    edge_writes = [q["sql"] for q in queries if "memodependency" in q["sql"] and not q["sql"].startswith("SELECT")]
    assert sum(sql.count("'input'") for sql in edge_writes) <= 2  # item 5 and count
    assert MemoDependency.objects.filter(memo=_row()).count() == 2001
    assert InputValue.objects.count() == 2001


# -- admin ------------------------------------------------------------------------------------


def test_admin_shows_a_maintained_memo_and_its_input_count_without_listing_every_edge(admin_client):
    rt = _runtime()
    _fill(rt, LINKS_SHOWN + 50)
    running_total(rt)
    row = _row()
    page = admin_client.get(reverse("admin:runtime_memo_change", args=[row.pk])).content.decode()
    assert re.search(r'Maintained:</label>\s*<div class="readonly"><img src="/static/admin/img/icon-yes.svg"', page)
    assert re.search(rf"Input count:</label>\s*<div class=\"readonly\">{LINKS_SHOWN + 51}</div>", page)
    assert page.count("<li><a href=") <= LINKS_SHOWN + 1  # the edges shown, and no dependents
    assert f"… and {51:,} more" in page
