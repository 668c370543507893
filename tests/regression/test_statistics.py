"""The maintained statistics follow replaced, emptied and deleted batches, at the cost of the changed batch only."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_diabetes

from runtime import Event, Runtime
from salsaweb.regression import inputs
from salsaweb.regression import statistics as statistics_module
from salsaweb.regression.descent import problem_from_moments
from salsaweb.regression.moments import moments_empty, moments_merge, moments_of
from salsaweb.regression.tree import leaf_row, node_empty, node_set, node_summary, packed_merge, packed_moments, tree_range_rows, tree_window_start
from salsaweb.regression.statistics import node, statistics

from .conftest import correlated_batches, load_runtime, lstsq, make_settings

Batches = dict[int, tuple[np.ndarray, np.ndarray]]


def current(rt: Runtime) -> Batches:
    """The batches 1..batch_count that have a value now, by number."""
    out: Batches = {}
    for number in range(1, inputs.batch_count(rt) + 1):
        record = rt.read_input(inputs.batch.key((number,)))
        if record is not None and not record.deleted:
            out[number] = record.value
    return out


def assert_from_scratch(rt: Runtime, features: int) -> None:
    """``statistics(rt)`` equals the statistics of the current rows, and its optimum numpy's lstsq on them."""
    got = statistics(rt)
    rows = list(current(rt).values())
    assert got["batches"] == inputs.batch_count(rt)
    expected = moments_empty(features)
    if rows:
        expected = moments_of(np.vstack([X for X, _ in rows]), np.concatenate([y for _, y in rows]))
    assert got["n"] == expected["n"]
    scale = 1.0 + np.abs(expected["m2"]).max()
    np.testing.assert_allclose(got["mean"], expected["mean"], rtol=1e-9, atol=1e-9 * (1.0 + np.abs(expected["mean"]).max()))
    np.testing.assert_allclose(got["m2"], expected["m2"], rtol=1e-8, atol=1e-9 * scale)
    fresh = statistics(load_runtime([b for b in rows if len(b[1])], features_count=features))
    np.testing.assert_allclose(got["m2"], fresh["m2"], rtol=1e-8, atol=1e-9 * scale)
    if expected["n"] > features + 1:
        X_all = np.vstack([X for X, _ in rows])
        weights, bias = lstsq(rows)
        best = problem_from_moments(got, make_settings(features))["optimum"]
        np.testing.assert_allclose(X_all @ best["weights"] + best["bias"], X_all @ weights + bias, rtol=1e-6, atol=1e-6)


@contextmanager
def watching(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Record, while inside, the tree nodes' executions and which batches the store is asked for: their statistics
    (``moments``) and their rows (``rows``, which the tree never needs)."""
    seen: dict[str, Any] = {"executions": 0, "moments": [], "rows": []}
    get_input = rt.storage.get_input

    def spy_get_input(key: Any) -> Any:
        if key[0] == inputs.batch_moments.id:
            seen["moments"].append(key[1][0])
        elif key[0] == inputs.batch.id:
            seen["rows"].append(key[1][0])
        return get_input(key)

    def listener(event: Event) -> None:
        if event.kind == "did_execute" and event.key[0] == node.id:
            seen["executions"] += 1

    monkeypatch.setattr(rt.storage, "get_input", spy_get_input)
    rt.add_listener(listener)
    try:
        yield seen
    finally:
        rt.remove_listener(listener)
        monkeypatch.undo()


def test_tree_ranges_and_window_lookup_equal_direct_computation() -> None:
    rng = np.random.default_rng(3)
    rows = [(rng.standard_normal((int(rng.integers(1, 9)), 3)) * [1, 10, 0.1] + 5.0, rng.standard_normal(8))
            for _ in range(37)]
    rows = [(X, y[: len(X)]) for X, y in rows]
    fanout, width = 4, 4

    def build(leaves: dict[int, Any]) -> dict[tuple[int, int], Any]:
        """Nodes of a three-level tree (fanout 4) over batches 1..37: leaf number -> statistics, None for none."""
        nodes = {(0, b): node_set(node_empty(width), {j: (leaf_row(leaves[n], width), n if leaves[n] is not None else 0, 0)
                                                       for j in range(fanout) if (n := b * fanout + j + 1) <= 37})
                 for b in range(10)}
        for level, count in ((1, 3), (2, 1)):
            for b in range(count):
                nodes[(level, b)] = node_set(node_empty(width), {
                    j: node_summary(nodes[(level - 1, b * fanout + j)]) for j in range(fanout)
                    if (level - 1, b * fanout + j) in nodes})
        return nodes

    def read_from(nodes: dict[tuple[int, int], Any]) -> Any:
        return lambda level, index: nodes[(level, index)]

    whole = build({n: moments_of(*rows[n - 1]) for n in range(1, 38)})
    for lo, hi in [(1, 37), (4, 20), (37, 37), (1, 1), (17, 32), (6, 5)]:
        got = packed_moments(packed_merge(tree_range_rows(read_from(whole), fanout, 2, lo, hi), width), width)
        if hi < lo:
            assert got["n"] == 0
            continue
        want = moments_of(np.vstack([X for X, _ in rows[lo - 1:hi]]), np.concatenate([y for _, y in rows[lo - 1:hi]]))
        assert got["n"] == want["n"]
        np.testing.assert_allclose(got["m2"], want["m2"], rtol=1e-12, atol=1e-12 * np.abs(want["m2"]).max())
    # Two deleted (5 and 11), one emptied (12: still there).
    leaves = {n: moments_of(*rows[n - 1]) for n in range(1, 38)} | {5: None, 11: None, 12: moments_empty(3)}
    gone = read_from(build(leaves))
    assert tree_window_start(gone, fanout, 2, 37, 3) == 35
    assert tree_window_start(gone, fanout, 2, 13, 3) == 10  # 13, 12 (empty but present), 10
    assert tree_window_start(gone, fanout, 2, 13, 9) == 3
    assert tree_window_start(gone, fanout, 2, 13, 100) is None


def test_removing_a_huge_offset_batch_leaves_no_cancellation_error(monkeypatch) -> None:
    """Subtracting a batch's statistics from a running total would lose every digit of the small rows' spread."""
    rng = np.random.default_rng(11)
    X, y = rng.standard_normal((50, 2)), rng.standard_normal(50)
    huge = (rng.standard_normal((50, 2)) * 1e8 + 1e9, rng.standard_normal(50) * 1e8 + 1e9)
    rt = load_runtime([(X, y), huge])
    statistics(rt)
    inputs.batch_remove(rt, 2)
    got, want = statistics(rt), moments_of(X, y)
    np.testing.assert_allclose(got["m2"], want["m2"], rtol=1e-13)
    np.testing.assert_allclose(got["mean"], want["mean"], rtol=1e-13)
    # What a subtraction (Chan's update run backwards) gives for the same removal.
    whole = moments_merge(want, moments_of(*huge))
    n = whole["n"] - 50
    mean = whole["mean"] + (whole["mean"] - moments_of(*huge)["mean"]) * (50 / n)
    delta = moments_of(*huge)["mean"] - mean
    subtracted = whole["m2"] - moments_of(*huge)["m2"] - np.outer(delta, delta * (n * 50 / whole["n"]))
    assert np.abs(subtracted - want["m2"]).max() > 1e-3 * np.abs(want["m2"]).max()


def test_a_replaced_batch_is_followed_reading_only_that_batch(bench_data, monkeypatch) -> None:
    batches, _ = bench_data
    rt = load_runtime(batches)
    statistics(rt)
    X, y = batches[0]
    replacement = (X[:150] * 2.0 - 1.0, y[:150] + 3.0)
    inputs.batch_put(rt, 3, replacement)
    with watching(rt, monkeypatch) as seen:
        statistics(rt)
    # One execution; of all batches the store was asked for batch 3's statistics alone (once:
    # the diff has its old value), and for no batch's rows.
    assert seen == {"executions": 1, "moments": [3], "rows": []}
    assert_from_scratch(rt, 10)


def test_an_emptied_and_then_a_deleted_batch_are_followed(bench_data, monkeypatch) -> None:
    batches, _ = bench_data
    rt = load_runtime(batches)
    statistics(rt)
    inputs.batch_put(rt, 2, (np.empty((0, 10)), np.empty(0)))
    with watching(rt, monkeypatch) as seen:
        assert statistics(rt)["n"] == 1600
    assert seen == {"executions": 1, "moments": [2], "rows": []}
    assert_from_scratch(rt, 10)
    inputs.batch_remove(rt, 4)
    with watching(rt, monkeypatch) as seen:
        assert statistics(rt)["n"] == 1200
    assert seen == {"executions": 1, "moments": [4], "rows": []}
    assert_from_scratch(rt, 10)
    inputs.batch_put(rt, 4, batches[4])  # set again: reported as new after MISSING
    assert_from_scratch(rt, 10)
    assert statistics(rt)["n"] == 1600


def test_a_new_batch_still_reads_only_itself(bench_data, monkeypatch) -> None:
    batches, _ = bench_data
    rt = load_runtime(batches[:4])
    statistics(rt)
    inputs.batch_put(rt, 5, batches[4])
    inputs.batch_count.set(rt, 5)
    with watching(rt, monkeypatch) as seen:
        statistics(rt)
    assert seen == {"executions": 1, "moments": [5], "rows": []}
    assert_from_scratch(rt, 10)


def test_every_batch_deleted_leaves_no_rows(bench_data) -> None:
    batches, _ = bench_data
    rt = load_runtime(batches[:3])
    statistics(rt)
    for number in (1, 2, 3):
        inputs.batch_remove(rt, number)
    result = statistics(rt)
    assert result["n"] == 0 and not result["m2"].any() and result["batches"] == 3
    assert_from_scratch(rt, 10)


def test_diabetes_batches_replaced_and_deleted_match_lstsq() -> None:
    data = load_diabetes()
    X, y = data.data, data.target
    parts = np.array_split(np.arange(len(y)), 6)
    rt = load_runtime([(X[i], y[i]) for i in parts])
    assert statistics(rt)["n"] == 442
    assert_from_scratch(rt, 10)
    inputs.batch_put(rt, 2, (X[parts[1]][::-1] * 1.5, y[parts[1]][::-1]))  # corrected batch
    assert_from_scratch(rt, 10)
    inputs.batch_remove(rt, 5)
    assert_from_scratch(rt, 10)
    inputs.batch_count.set(rt, 4)  # batch 6 falls out of the count
    assert_from_scratch(rt, 10)
    assert statistics(rt)["n"] == sum(len(parts[k]) for k in range(4))


OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["replace", "empty", "delete", "append", "count"]), st.integers(1, 8), st.integers(1, 30)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(operations=OPERATIONS, seed=st.integers(0, 2**32 - 1))
def test_random_changes_equal_recomputing(operations, seed) -> None:
    rng = np.random.default_rng(seed)
    features = 3

    def rows(count: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.standard_normal((count, features)) * [1.0, 5.0, 0.2] + 3.0
        return X, X @ [1.0, -2.0, 0.5] + rng.standard_normal(count)

    rt = load_runtime([rows(10), rows(20)])
    statistics(rt)
    for kind, number, size in operations:
        count = inputs.batch_count(rt)
        if kind == "append":
            with rt.transaction():
                inputs.batch_put(rt, count + 1, rows(size))
                inputs.batch_count.set(rt, count + 1)
        elif kind == "count":
            inputs.batch_count.set(rt, min(number, 8))
        elif kind == "delete":
            record = rt.read_input(inputs.batch.key((number,)))
            if record is not None and not record.deleted:
                inputs.batch_remove(rt, number)
        else:
            inputs.batch_put(rt, number, rows(0 if kind == "empty" else size))
        assert_from_scratch(rt, features)


# -- on the database store, a new runtime (a reload) for every step, as the services make them ----------------------


@pytest.mark.django_db
def test_database_store_statistics_follow_replaced_and_deleted_batches(django_user_model, monkeypatch) -> None:
    from salsaweb.regression import services
    from salsaweb.regression.runtimes import dataset_runtime

    owner = django_user_model.objects.create_user(username="owner", password="pw")
    features = ["x0", "x1", "x2"]
    dataset = services.dataset_create(owner=owner, name="d", features=features, target="y")
    batches, _ = correlated_batches(5, 200, features=3, seed=5)
    for X, y in batches:
        services.batch_create(dataset=dataset, rows=[dict(zip([*features, "y"], row)) for row in np.column_stack([X, y])])
    assert statistics(dataset_runtime(dataset))["n"] == 1000
    X, y = batches[1]
    inputs.batch_put(dataset_runtime(dataset), 2, (X[:50] + 1.0, y[:50] - 2.0))
    rt = dataset_runtime(dataset)
    with watching(rt, monkeypatch) as seen:
        assert statistics(rt)["n"] == 850
    assert seen == {"executions": 1, "moments": [2], "rows": []}
    assert_from_scratch(dataset_runtime(dataset), 3)
    inputs.batch_remove(dataset_runtime(dataset), 4)
    rt = dataset_runtime(dataset)
    with watching(rt, monkeypatch) as seen:
        assert statistics(rt)["n"] == 650
    assert seen == {"executions": 1, "moments": [4], "rows": []}
    assert_from_scratch(dataset_runtime(dataset), 3)
    run = services.model_train(dataset=dataset, mode="incremental")
    assert run.rows_total == 650


@settings(max_examples=30, deadline=None)
@given(operations=st.lists(st.tuples(st.sampled_from(["append", "delete", "replace", "window"]), st.integers(1, 24),
                                     st.integers(0, 6)), min_size=1, max_size=25),
       seed=st.integers(0, 2**32 - 1))
def test_windows_across_blocks_equal_recomputing(operations, seed) -> None:
    rng = np.random.default_rng(seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(statistics_module, "FANOUT", 2)  # many levels from few batches
        held = {n: (rng.standard_normal((3, 2)) + 5.0, rng.standard_normal(3)) for n in range(1, 10)}
        rt = load_runtime(list(held.values()))
        window = None
        for kind, number, size in operations:
            count = inputs.batch_count(rt)
            if kind == "append":
                held[count + 1] = (rng.standard_normal((size, 2)) + 5.0, rng.standard_normal(size))
                with rt.transaction():
                    inputs.batch_put(rt, count + 1, held[count + 1])
                    inputs.batch_count.set(rt, count + 1)
            elif kind == "delete" and number in held:
                del held[number]
                inputs.batch_remove(rt, number)
            elif kind == "replace" and number <= count:
                held[number] = (rng.standard_normal((size, 2)) - 1.0, rng.standard_normal(size))
                inputs.batch_put(rt, number, held[number])
            elif kind == "window":
                window = None if number > 12 else number
                inputs.training_settings.set(rt, make_settings(2, window=window))
            got = statistics(rt)
            used = sorted(held)[-window:] if window is not None else sorted(held)
            if window is not None and len(held) > window:
                assert got["first"] == used[0]
            rows = [held[n] for n in used if len(held[n][1])]
            assert got["n"] == sum(len(y) for _, y in rows)
            if rows:
                want = moments_of(np.vstack([X for X, _ in rows]), np.concatenate([y for _, y in rows]))
                np.testing.assert_allclose(got["m2"], want["m2"], rtol=1e-9, atol=1e-9 * np.abs(want["m2"]).max())
                np.testing.assert_allclose(got["mean"], want["mean"], rtol=1e-12, atol=1e-12)


def node_work(rt: Runtime, call: Any) -> dict[str, int]:
    """Run ``call()`` and count, from the runtime's events, the tree nodes it executed and the node memos it read."""
    seen = {"executed": 0, "read": 0}

    def listener(event: Event) -> None:
        if event.key[0] == node.id and event.kind in ("did_execute", "did_verify", "memo_hit"):
            seen["read"] += 1
            seen["executed"] += event.kind == "did_execute"

    rt.add_listener(listener)
    try:
        call()
    finally:
        rt.remove_listener(listener)
    return seen


@pytest.mark.parametrize("window", [None, 3])
def test_a_change_at_b_batches_executes_one_path_and_reads_o_log_b_nodes(window, monkeypatch) -> None:
    monkeypatch.setattr(statistics_module, "FANOUT", 4)
    rng = np.random.default_rng(8)
    work = {}
    for count in (16, 256, 1024):  # heights 1, 3, 4: 2, 4 and 5 nodes on a path
        rt = load_runtime([(rng.standard_normal((2, 2)), rng.standard_normal(2)) for _ in range(count)], window=window)
        statistics(rt)
        levels = statistics_module.height(count) + 1
        inputs.batch_put(rt, count // 2, (rng.standard_normal((3, 2)), rng.standard_normal(3)))
        replace = node_work(rt, lambda: statistics(rt))
        inputs.batch_remove(rt, count // 3)
        delete = node_work(rt, lambda: statistics(rt))
        with rt.transaction():
            inputs.batch_put(rt, count + 1, (rng.standard_normal((3, 2)), rng.standard_normal(3)))
            inputs.batch_count.set(rt, count + 1)
        append = node_work(rt, lambda: statistics(rt))
        assert replace["executed"] == delete["executed"] == levels  # the changed batch's path, nothing else
        # Each count here fills its root: the new batch's path is new nodes and a new root, and the old root hears
        # of the count.  The next append executes its path (and upper nodes on the window's path, which hear of the
        # count too, return what they held).
        assert append["executed"] <= 2 * levels + 2
        with rt.transaction():
            inputs.batch_put(rt, count + 2, (rng.standard_normal((3, 2)), rng.standard_normal(3)))
            inputs.batch_count.set(rt, count + 2)
        again = node_work(rt, lambda: statistics(rt))
        assert levels + 1 <= again["executed"] <= 2 * levels
        work[count] = (statistics_module.height(count + 2) + 1, max(replace["read"], delete["read"], append["read"], again["read"]))
        if window is None:
            assert_from_scratch(rt, 2)
        else:
            used = list(current(rt).values())[-window:]
            assert statistics(rt)["n"] == sum(len(y) for _, y in used)
    for levels, read in work.values():
        assert read <= 3 * levels + 2  # the path, the window's path and the right edge: O(height)
    assert work[1024][1] <= 2 * work[16][1]  # 64 times the batches: the height, not B / FANOUT, grows


@pytest.mark.django_db
def test_batches_stored_before_their_statistics_were_kept_get_them_from_the_migration(django_user_model) -> None:
    """Migration 0009 computes the statistics of every live batch that has only its rows, once."""
    import importlib

    from django.apps import apps
    from django.db import connection

    from salsaweb.regression import services
    from salsaweb.regression.runtimes import dataset_runtime

    migration = importlib.import_module("salsaweb.regression.migrations.0009_batch_moments")
    owner = django_user_model.objects.create_user(username="owner", password="pw")
    features = ["x0", "x1"]
    dataset = services.dataset_create(owner=owner, name="old", features=features, target="y")
    batches, _ = correlated_batches(4, 50, features=2, seed=9)
    for X, y in batches:
        services.batch_create(dataset=dataset, rows=[dict(zip([*features, "y"], row)) for row in np.column_stack([X, y])])
    services.batch_delete(dataset=dataset, number=3)
    rt = dataset_runtime(dataset)
    with rt.transaction():  # as a dataset stored before 0009 has them: rows, no statistics
        for number in (1, 2, 4):
            inputs.batch_moments.delete(rt, number)

    class Editor:  # what RunPython hands the function: only its connection is used
        pass

    editor = Editor()
    editor.connection = connection
    migration.batch_moments_backfill(apps, editor)
    rt = dataset_runtime(dataset)
    assert not inputs.batch_moments.has(rt, 3) and not inputs.batch.has(rt, 3)
    for number in (1, 2, 4):
        want = moments_of(*batches[number - 1])
        got = inputs.batch_moments(rt, number)
        assert got["n"] == want["n"]
        np.testing.assert_allclose(got["m2"], want["m2"], rtol=1e-12)
    assert statistics(rt)["n"] == 150
    assert_from_scratch(rt, 2)


def test_statistics_given_for_other_rows_are_refused_and_store_nothing(bench_data) -> None:
    batches, _ = bench_data
    rt = load_runtime(batches[:2])
    before = statistics(rt)["n"]
    with pytest.raises(ValueError, match="statistics of 400 rows given for 3 rows"):
        inputs.batch_put(rt, 2, (batches[0][0][:3], batches[0][1][:3]), moments_of(*batches[0]))
    assert statistics(rt)["n"] == before
    np.testing.assert_array_equal(inputs.batch(rt, 2)[1], batches[1][1])
