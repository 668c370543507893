"""Derived functions whose code or version changes are not served old memos (spec: "Also").

A code change is simulated as a module reload would do it: a new function declared
under the same ``module.qualname`` and bound to the module's global name.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from runtime import DerivedFunction, declare_input, derived, previous_output
from tests.execution_log import assert_log, log

REPO_ROOT = Path(__file__).resolve().parents[2]
FINGERPRINT_SCRIPT = """
from runtime import derived

@derived
def classify(rt, word):
    return word in {"alpha", "beta", "gamma", "delta", "epsilon"} or word in ("x", frozenset({"y", "z"}))

print(classify.code)
"""


@declare_input
def base(rt) -> int:
    """The number ``formula`` starts from."""


@declare_input
def unrelated(rt) -> int:
    """Read by nothing here; setting it starts a revision."""


@derived
def formula(rt) -> int:
    log.add("formula")
    return base(rt) + 1


@derived
def uses_formula(rt) -> int:
    log.add("uses_formula")
    return formula(rt) * 10


ORIGINAL_FORMULA = formula


@pytest.fixture
def redeclare(monkeypatch: pytest.MonkeyPatch):
    """Declare a new ``formula`` the way a reload would; the original is restored afterwards."""

    def declare(body: Callable[..., Any], version: int = 0) -> DerivedFunction:
        body.__module__ = ORIGINAL_FORMULA.__module__
        body.__qualname__ = ORIGINAL_FORMULA.__qualname__
        body.__name__ = ORIGINAL_FORMULA.__name__
        new = derived(version=version)(body)
        monkeypatch.setattr(sys.modules[__name__], "formula", new)
        return new

    yield declare
    derived(version=ORIGINAL_FORMULA.version)(ORIGINAL_FORMULA.body)


def test_changed_code_is_not_served_the_old_memo(rt, redeclare):
    base.set(rt, 1)
    assert formula(rt) == 2

    def changed(rt) -> int:
        log.add("formula")
        return base(rt) + 2

    new = redeclare(changed)
    assert new.code != ORIGINAL_FORMULA.code
    assert new(rt) == 3
    assert_log(["formula", "formula"])


def test_changed_code_gets_no_previous_output_from_the_old_code(rt, redeclare):
    base.set(rt, 1)
    formula(rt)
    seen: list[Any] = []

    def changed(rt) -> int:
        seen.append(previous_output(rt))
        return base(rt) + 2

    redeclare(changed)(rt)
    assert seen == [None]


def test_dependent_of_changed_function_reexecutes_at_the_next_revision(rt, redeclare):
    base.set(rt, 1)
    unrelated.set(rt, 0)
    assert uses_formula(rt) == 20

    def changed(rt) -> int:
        log.add("formula v2")
        return base(rt) + 2

    redeclare(changed)
    unrelated.set(rt, 1)
    assert uses_formula(rt) == 30
    assert_log(["uses_formula", "formula", "uses_formula", "formula v2"])


def test_dependent_of_changed_function_reexecutes_without_an_input_change(rt, redeclare):
    base.set(rt, 1)
    assert uses_formula(rt) == 20
    revision = rt.revision

    def changed(rt) -> int:
        log.add("formula v2")
        return base(rt) + 2

    redeclare(changed)
    assert uses_formula(rt) == 30  # its own memo is current, but what it read is not
    assert rt.revision == revision + 1  # the code change started a revision
    assert_log(["uses_formula", "formula", "uses_formula", "formula v2"])
    assert uses_formula(rt) == 30
    assert_log([])


def test_version_bump_is_not_served_the_old_memo(rt, redeclare):
    base.set(rt, 1)
    formula(rt)
    bumped = redeclare(ORIGINAL_FORMULA.body, version=2)
    assert bumped.code != ORIGINAL_FORMULA.code
    assert bumped(rt) == 2
    assert_log(["formula", "formula"])


def test_identical_code_declared_again_is_served_the_memo(rt, redeclare):
    base.set(rt, 1)
    formula(rt)

    def same(rt) -> int:
        log.add("formula")
        return base(rt) + 1

    again = redeclare(same)
    assert again.code == ORIGINAL_FORMULA.code
    assert again(rt) == 2
    assert_log(["formula"])


def test_second_runtime_on_the_same_store_does_not_serve_memos_of_old_code(rt, make_runtime, redeclare):
    base.set(rt, 1)
    formula(rt)

    def changed(rt) -> int:
        return base(rt) * 100

    redeclare(changed)
    assert formula(make_runtime(rt.storage)) == 100


def test_code_fingerprint_is_the_same_in_every_process():
    codes = set()
    for seed in ("0", "1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO_ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", FINGERPRINT_SCRIPT], env=env, capture_output=True, text=True, check=True, timeout=60
        )
        codes.add(done.stdout.strip())
    assert len(codes) == 1


@derived
def fails_when_negative(rt) -> int:
    log.add("fails_when_negative")
    if base(rt) < 0:
        raise ValueError("negative")
    return base(rt)


def test_a_failed_call_is_not_taken_for_a_code_change(rt, make_runtime):
    base.set(rt, 1)
    assert fails_when_negative(rt) == 1
    base.set(rt, -1)
    with pytest.raises(ValueError):
        fails_when_negative(rt)
    revision = rt.revision
    other = make_runtime(rt.storage)  # compares the declared code with the store's
    assert formula(other) == 0
    assert other.revision == revision


def test_an_execution_after_a_code_change_says_whose_code_changed(rt, redeclare):
    base.set(rt, 1)
    uses_formula(rt)
    whys: list[tuple[str, str | None]] = []
    rt.add_listener(lambda e: whys.append((e.label, e.why)) if e.kind == "will_execute" else None)

    def changed(rt) -> int:
        return base(rt) + 2

    redeclare(changed)
    assert uses_formula(rt) == 30
    assert whys == [("uses_formula(rt)", "code of formula changed"), ("formula(rt)", "code of formula changed")]
