"""Counters, engine events and explain() (spec: "Seeing what it did")."""
from __future__ import annotations

import json

import pytest

from runtime import Event, declare_input, derived


@declare_input
def a(rt) -> int:
    """A number."""


@declare_input
def b(rt, i: int) -> int:
    """Numbers by index."""


@derived
def parity(rt) -> int:
    return a(rt) % 2


@derived
def total(rt) -> int:
    return parity(rt) + b(rt, 1) + b(rt, 2)


class Recorder:
    """A listener that keeps (kind, label) for each event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, event: Event) -> None:
        self.events.append((event.kind, event.label))


@pytest.fixture
def graph(rt):
    """``total`` computed once over a=1, b(1)=10, b(2)=20."""
    a.set(rt, 1)
    b.set(rt, 1, 10)
    b.set(rt, 2, 20)
    assert total(rt) == 31
    return rt


def test_counters_count_executions_hits_verifications_and_backdates(graph):
    rt = graph
    assert rt.counters.executions == 2
    assert rt.counters.input_changes == 3
    total(rt)
    assert rt.counters.hits == 1
    a.set(rt, 3)
    total(rt)
    assert rt.counters.snapshot() == {
        "executions": 3,
        "hits": 1,
        "verifications": 1,
        "backdates": 1,
        "suspensions": 0,
        "input_changes": 4,
    }


def test_reset_counters_returns_the_old_values_and_starts_from_zero(graph):
    rt = graph
    before = rt.reset_counters()
    assert before["executions"] == 2
    assert set(rt.counters.snapshot().values()) == {0}
    total(rt)
    assert rt.counters.hits == 1


def test_listener_sees_execution_events_in_order(rt):
    recorder = Recorder()
    rt.add_listener(recorder)
    a.set(rt, 1)
    b.set(rt, 1, 10)
    b.set(rt, 2, 20)
    total(rt)
    total(rt)
    assert recorder.events == [
        ("input_set", "a(rt)"),
        ("input_set", "b(rt, 1)"),
        ("input_set", "b(rt, 2)"),
        ("will_execute", "total(rt)"),
        ("will_execute", "parity(rt)"),
        ("did_execute", "parity(rt)"),
        ("did_execute", "total(rt)"),
        ("memo_hit", "total(rt)"),
    ]


def test_listener_sees_backdate_and_verify_events(graph):
    rt = graph
    recorder = Recorder()
    rt.add_listener(recorder)
    a.set(rt, 3)
    total(rt)
    assert recorder.events == [
        ("input_set", "a(rt)"),
        ("will_execute", "parity(rt)"),
        ("did_backdate", "parity(rt)"),
        ("did_execute", "parity(rt)"),
        ("did_verify", "total(rt)"),
    ]


def test_events_carry_key_and_revision(graph):
    rt = graph
    events: list[Event] = []
    rt.add_listener(events.append)
    b.set(rt, 2, 21)
    total(rt)
    assert events[0].kind == "input_set"
    assert events[0].revision == rt.revision
    assert events[-1].label == "total(rt)"
    assert events[-1].key[1] == ()


def test_removed_listener_sees_nothing_more(graph):
    rt = graph
    recorder = Recorder()
    rt.add_listener(recorder)
    rt.remove_listener(recorder)
    a.set(rt, 2)
    total(rt)
    assert recorder.events == []


def test_explain_lists_the_dependency_tree_with_revisions(graph):
    rt = graph
    explanation = json.loads(rt.explain(total).to_json())
    assert explanation["root"] == "n0"
    assert explanation["revision"] == rt.revision
    nodes = explanation["nodes"]
    root = nodes["n0"]
    assert root["label"] == "total(rt)"
    assert root["kind"] == "derived"
    assert root["state"] == "current"
    assert root["verified_at"] == rt.revision
    labels = [nodes[d]["label"] for d in root["deps"]]
    assert labels == ["parity(rt)", "b(rt, 1)", "b(rt, 2)"]
    assert [nodes[d]["kind"] for d in root["deps"]] == ["derived", "input", "input"]
    assert nodes[root["deps"][0]]["deps"] and nodes[nodes[root["deps"][0]]["deps"][0]]["label"] == "a(rt)"
    assert nodes[root["deps"][2]]["changed_at"] == rt.revision
    assert nodes[root["deps"][1]]["changed_at"] == rt.revision - 1


def test_explain_shows_stale_nodes_after_an_input_change(graph):
    rt = graph
    b.set(rt, 1, 11)
    nodes = rt.explain(total).to_dict()["nodes"]
    assert nodes["n0"]["state"] == "stale"
    assert nodes["n0"]["verified_at"] == rt.revision - 1


def test_explain_of_a_deleted_input_shows_it_deleted(graph):
    rt = graph
    b.delete(rt, 2)
    nodes = rt.explain(total).to_dict()["nodes"]
    assert {n["label"]: n["state"] for n in nodes.values()}["b(rt, 2)"] == "deleted"


def test_explain_exports_graphviz_dot(graph):
    rt = graph
    dot = rt.explain(total).to_dot()
    assert dot.startswith("digraph explain {")
    assert dot.rstrip().endswith("}")
    assert dot.count(" -> ") == 4
    assert "total(rt)" in dot and "parity(rt)" in dot and "b(rt, 2)" in dot
    assert "shape=ellipse" in dot


def test_explain_dot_marks_stale_nodes(graph):
    rt = graph
    assert "style=dashed" not in rt.explain(total).to_dot()
    a.set(rt, 2)
    assert "style=dashed" in rt.explain(total).to_dot()


def test_explain_without_a_memo_raises_lookup_error(rt):
    with pytest.raises(LookupError, match=r"total\(rt\) has no memo"):
        rt.explain(total)


def test_explain_of_an_input_is_a_type_error(rt):
    with pytest.raises(TypeError):
        rt.explain(a)


def _whys(rt) -> list[tuple[str, str | None]]:
    """Listen on ``rt``; the list fills with (label, why) of each execution."""
    whys: list[tuple[str, str | None]] = []
    rt.add_listener(lambda e: whys.append((e.label, e.why)) if e.kind == "will_execute" else None)
    return whys


def test_an_execution_says_which_input_or_dependency_made_it_run(rt):
    a.set(rt, 1)
    b.set(rt, 1, 10)
    b.set(rt, 2, 20)
    whys = _whys(rt)
    total(rt)
    assert whys == [("total(rt)", "no memo yet"), ("parity(rt)", "no memo yet")]
    whys.clear()
    b.set(rt, 2, 21)
    total(rt)
    assert whys == [("total(rt)", "input b(rt, 2) changed")]
    whys.clear()
    a.set(rt, 2)
    total(rt)
    assert whys == [("parity(rt)", "input a(rt) changed"), ("total(rt)", "parity(rt) changed")]
    whys.clear()
    a.set(rt, 4)  # parity stays 0: backdated, so total is verified and not run
    total(rt)
    assert whys == [("parity(rt)", "input a(rt) changed")]

