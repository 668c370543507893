"""Red-green re-verification, re-recorded dependencies and early cutoff (spec: semantics 2, 3, 4).

The derived bodies record their executions in the shared execution log (tests/execution_log.py).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from runtime import declare_input, derived
from tests.execution_log import assert_log, log


@declare_input
def a(rt) -> int:
    """A number."""


@declare_input
def b(rt) -> int:
    """Another number."""


@declare_input
def flag(rt) -> bool:
    """Which branch ``branch`` takes."""


@declare_input
def unrelated(rt) -> int:
    """An input nothing below reads."""


@declare_input
def vector(rt) -> np.ndarray:
    """An array input."""


@derived
def inner(rt) -> int:
    log.add("inner")
    return a(rt) * 10


@derived
def outer(rt) -> int:
    log.add("outer")
    return inner(rt) + 1


@derived
def expensive(rt) -> int:
    log.add("expensive")
    return b(rt) * 100


@derived
def branch(rt) -> int:
    log.add("branch")
    if flag(rt):
        return a(rt)
    return expensive(rt)


@derived
def parity(rt) -> int:
    log.add("parity")
    return a(rt) % 2


@derived
def report(rt) -> str:
    log.add("report")
    return f"parity {parity(rt)}"


@derived
def read_twice(rt) -> int:
    log.add("read_twice")
    return a(rt) + a(rt) + inner(rt) + inner(rt)


@derived
def normalized(rt) -> np.ndarray:
    log.add("normalized")
    v = vector(rt)
    return v / np.abs(v).max()


@derived
def normalized_sum(rt) -> float:
    log.add("normalized_sum")
    return float(normalized(rt).sum())


@derived
def maybe_nan(rt) -> float:
    log.add("maybe_nan")
    return float("nan") if a(rt) > 0 else 0.0


@derived
def nan_report(rt) -> str:
    log.add("nan_report")
    return repr(maybe_nan(rt))


@derived
def sign_of_zero(rt) -> float:
    log.add("sign_of_zero")
    return -0.0 if a(rt) < 0 else 0.0


@derived
def reciprocal(rt) -> float:
    log.add("reciprocal")
    return float(np.copysign(np.inf, sign_of_zero(rt)))


def test_unchanged_dependencies_verify_without_execution(rt):
    a.set(rt, 1)
    unrelated.set(rt, 0)
    assert outer(rt) == 11
    unrelated.set(rt, 1)
    rt.reset_counters()
    assert outer(rt) == 11
    assert_log(["outer", "inner"])
    assert rt.counters.executions == 0
    assert rt.counters.verifications == 2


def test_memo_reverified_at_new_revision_is_then_a_memo_hit(rt):
    a.set(rt, 1)
    unrelated.set(rt, 0)
    outer(rt)
    unrelated.set(rt, 1)
    outer(rt)
    rt.reset_counters()
    outer(rt)
    assert rt.counters.hits == 1
    assert rt.counters.verifications == 0


def test_stale_derived_dependency_is_reexecuted_before_its_dependent(rt):
    a.set(rt, 1)
    outer(rt)
    log.clear()
    a.set(rt, 2)
    assert outer(rt) == 21
    assert_log(["inner", "outer"])


def test_verifying_a_dependency_directly_leaves_dependent_to_reexecute(rt):
    a.set(rt, 1)
    outer(rt)
    a.set(rt, 2)
    assert inner(rt) == 20
    log.clear()
    assert outer(rt) == 21
    assert_log(["outer"])


def test_reverify_stops_at_first_changed_dependency_without_touching_later_ones(rt):
    flag.set(rt, False)
    a.set(rt, 1)
    b.set(rt, 1)
    assert branch(rt) == 100
    flag.set(rt, True)
    b.set(rt, 2)
    log.clear()
    assert branch(rt) == 1
    assert_log(["branch"])
    assert rt.explain(branch).to_dict()["nodes"]["n0"]["deps"] == ["n1", "n2"]


def test_dependencies_are_rerecorded_on_every_execution(rt):
    flag.set(rt, True)
    a.set(rt, 1)
    b.set(rt, 1)
    assert branch(rt) == 1
    flag.set(rt, False)
    assert branch(rt) == 100
    log.clear()
    a.set(rt, 5)
    assert branch(rt) == 100
    assert_log([])
    b.set(rt, 3)
    assert branch(rt) == 300
    assert_log(["expensive", "branch"])


def test_input_read_before_a_branch_switch_no_longer_reexecutes(rt):
    flag.set(rt, False)
    a.set(rt, 1)
    b.set(rt, 1)
    branch(rt)
    flag.set(rt, True)
    branch(rt)
    log.clear()
    b.set(rt, 9)
    assert branch(rt) == 1
    assert_log([])


def test_repeated_read_records_one_dependency_in_first_read_order(rt):
    a.set(rt, 1)
    assert read_twice(rt) == 22
    nodes = rt.explain(read_twice).to_dict()["nodes"]
    labels = [nodes[d]["label"] for d in nodes["n0"]["deps"]]
    assert labels == ["a(rt)", "inner(rt)"]


def test_backdated_value_does_not_reexecute_dependents(rt):
    a.set(rt, 1)
    assert report(rt) == "parity 1"
    a.set(rt, 3)
    log.clear()
    assert report(rt) == "parity 1"
    assert_log(["parity"])
    assert rt.counters.backdates == 1


def test_changed_value_reexecutes_dependents(rt):
    a.set(rt, 1)
    report(rt)
    a.set(rt, 2)
    log.clear()
    assert report(rt) == "parity 0"
    assert_log(["parity", "report"])
    assert rt.counters.backdates == 0


def test_backdated_memo_keeps_its_changed_at(rt):
    a.set(rt, 1)
    report(rt)
    changed_at = json.loads(rt.explain(parity).to_json())["nodes"]["n0"]["changed_at"]
    a.set(rt, 3)
    report(rt)
    node = json.loads(rt.explain(parity).to_json())["nodes"]["n0"]
    assert node["changed_at"] == changed_at
    assert node["verified_at"] == rt.revision


def test_input_changed_and_changed_back_reexecutes_but_backdates(rt):
    a.set(rt, 1)
    report(rt)
    a.set(rt, 2)
    a.set(rt, 1)
    log.clear()
    assert report(rt) == "parity 1"
    assert_log(["parity"])


def test_backdating_compares_numpy_results_by_value(rt):
    vector.set(rt, np.array([1.0, -2.0, 4.0]))
    assert normalized_sum(rt) == pytest.approx(0.75)
    vector.set(rt, np.array([2.0, -4.0, 8.0]))
    log.clear()
    assert normalized_sum(rt) == pytest.approx(0.75)
    assert_log(["normalized"])


def test_nan_result_backdates(rt):
    a.set(rt, 1)
    assert nan_report(rt) == "nan"
    a.set(rt, 2)
    log.clear()
    assert nan_report(rt) == "nan"
    assert_log(["maybe_nan"])
    assert rt.counters.backdates == 1


def test_negative_zero_result_is_a_change_for_dependents(rt):
    a.set(rt, 1)
    assert reciprocal(rt) == np.inf
    a.set(rt, -1)
    log.clear()
    assert reciprocal(rt) == -np.inf
    assert_log(["sign_of_zero", "reciprocal"])
