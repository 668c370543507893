"""Property tests: random maintained programs under random edits (issue 11: "Done when").

The programs are tests/runtime/maintained_programs.py's ``msum``, ``mcount`` and ``mmin``
over ``cell(rt, k)`` for ``k < size(rt)``; the edits set, replace and delete cells, add new
ones (with a value or without) and batch several in one transaction.  After every edit
the queried functions must answer what plain Python computes over a model dict (and what
the non-maintained ``plain`` computes in the same store), and every ``changes`` report
must be the exact diff, in first-read order, of what that function depended on.  The same
runs on both stores, across a restart of the database store, and with a second process
writing half of the edits.
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime import MISSING, Change, Runtime

from .maintained_programs import EXECUTIONS, MAINTAINED, Dep, Edit, Execution, apply_edit, cell, plain, size

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_namespaces = itertools.count()

#: A reported change as the model writes it: (input name, key, old, new).
Reported = tuple[str, tuple[int, ...], Any, Any]


class Step(NamedTuple):
    """One edit, the maintained functions queried after it, and whether another process makes it."""

    edit: Edit
    queries: tuple[str, ...]
    elsewhere: bool


class Scenario(NamedTuple):
    """The initial cells and size, and the steps."""

    cells: dict[int, int]
    size: int
    steps: tuple[Step, ...]


class Model:
    """The inputs as a dict, and what each maintained function depends on with the value it last saw."""

    def __init__(self, cells: dict[int, int], n: int) -> None:
        self.cells = dict(cells)
        self.size = n
        #: Per function: each input it depends on, in first-read order, and the value it saw (None: never run).
        self.deps: dict[str, dict[Dep, Any] | None] = dict.fromkeys(MAINTAINED)

    def apply(self, edit: Edit) -> None:
        """Apply an edit as ``apply_edit`` does to a runtime."""
        kind = edit[0]
        if kind == "set":
            self.cells[edit[1]] = edit[2]
        elif kind == "delete":
            del self.cells[edit[1]]
        elif kind == "new":
            if edit[2] is not None:
                self.cells[edit[1]] = edit[2]
            self.size = edit[1] + 1
        else:
            for inner in edit[1]:
                self.apply(inner)

    def value(self, dep: Dep) -> Any:
        """The current value of an input; ``MISSING`` when it has none."""
        name, key = dep
        return self.size if name == "size" else self.cells.get(key[0], MISSING)

    def answers(self) -> dict[str, Any]:
        """What each maintained function must return, computed in plain Python."""
        values = list(self.cells.values())
        return {"msum": sum(values), "mcount": len(values), "mmin": (min(values, default=None),)}

    def plain(self) -> tuple[int, int, int | None]:
        """What ``plain`` must return."""
        answers = self.answers()
        return (answers["msum"], answers["mcount"], answers["mmin"][0])

    def diff(self, name: str) -> list[Reported] | None:
        """The exact diff ``changes`` must report to ``name`` now (None before its first execution)."""
        deps = self.deps[name]
        if deps is None:
            return None
        return [(dep[0], dep[1], seen, now) for dep, seen in deps.items() if (now := self.value(dep)) != seen]

    def executed(self, execution: Execution) -> None:
        """Update what the function depends on: carried over (unless told to start over), plus what it read."""
        deps = {} if execution.delta is None else self.deps[execution.name]
        assert deps is not None
        for change in execution.delta or ():
            dep = (change.function.name, change.key)
            deps[dep] = self.value(dep)
        for dep in execution.reads:
            deps[dep] = self.value(dep)
        self.deps[execution.name] = deps


def reported(delta: tuple[Change, ...] | None) -> list[Reported] | None:
    """A ``changes`` report in the model's terms."""
    if delta is None:
        return None
    return [(c.function.name, c.key, c.old, c.new) for c in delta]


def _draw_edit(draw: st.DrawFn, model: Model, inner: bool = False) -> Edit:
    """A valid edit for the model's current state, applied to it; ``inner``: one that can go in a batch."""
    values = st.integers(-3, 3)
    kinds = (["set", "set"] if model.size else []) + (["delete"] if model.cells else [])
    if not inner:
        kinds += ["new"] + (["batch"] if model.size else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "batch":
        return ["batch", [_draw_edit(draw, model, inner=True) for _ in range(draw(st.integers(1, 3)))]]
    if kind == "set":
        edit: Edit = ["set", draw(st.integers(0, model.size - 1)), draw(values)]
    elif kind == "delete":
        edit = ["delete", draw(st.sampled_from(sorted(model.cells)))]
    else:
        edit = ["new", model.size, draw(st.none() | values)]
    model.apply(edit)
    return edit


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """0-4 initial cells (some without a value) and 1-10 steps, each querying some of the functions."""
    n = draw(st.integers(0, 4))
    cells = {k: v for k in range(n) if (v := draw(st.none() | st.integers(-3, 3))) is not None}
    model = Model(cells, n)
    names = sorted(MAINTAINED)
    steps = []
    for _ in range(draw(st.integers(1, 10))):
        edit = _draw_edit(draw, model)
        queries = tuple(draw(st.lists(st.sampled_from(names), unique=True, max_size=3)))
        steps.append(Step(edit, queries, draw(st.booleans())))
    return Scenario(cells, n, tuple(steps))


def query(rt: Runtime, model: Model, name: str) -> None:
    """Call one maintained function: its answer and its report must be the model's."""
    EXECUTIONS.clear()
    answer = MAINTAINED[name](rt)
    assert answer == model.answers()[name], f"{name} answered {answer!r}"
    expected = model.diff(name)
    if not EXECUTIONS:
        assert expected == [], f"{name} did not execute, but its inputs changed: {expected!r}"
        return
    (execution,) = EXECUTIONS
    assert reported(execution.delta) == expected
    model.executed(execution)


def play(
    rt: Runtime,
    scenario: Scenario,
    write: Callable[[Runtime, Step], None] = lambda rt, step: apply_edit(rt, step.edit),
    reopen_at: int | None = None,
) -> None:
    """Run a scenario, checking every answer and report; at step ``reopen_at`` switch to a restarted runtime."""
    size.set(rt, scenario.size)
    for k, value in scenario.cells.items():
        cell.set(rt, k, value)
    model = Model(scenario.cells, scenario.size)
    for name in MAINTAINED:
        query(rt, model, name)
    for i, step in enumerate(scenario.steps):
        if i == reopen_at:
            rt = restarted(rt)
        write(rt, step)
        model.apply(step.edit)
        for name in step.queries:
            query(rt, model, name)
        assert plain(rt) == model.plain()
    for name in MAINTAINED:
        query(rt, model, name)


def restarted(rt: Runtime) -> Runtime:
    """A new runtime on a new database store object of the same namespace: the process restarted."""
    from runtime.db.storage import DatabaseStorage

    return Runtime(DatabaseStorage(rt.storage.namespace))


def database_runtime() -> Runtime:
    """A runtime on a fresh namespace of the database store."""
    from runtime.db.storage import DatabaseStorage

    return Runtime(DatabaseStorage(f"maintained-prop-{next(_namespaces)}"))


@SETTINGS
@given(scenario=scenarios())
def test_maintained_answers_and_reports_equal_recomputing_and_the_exact_diff(make_runtime, scenario):
    play(make_runtime(), scenario)


@pytest.mark.django_db(transaction=True)
@settings(SETTINGS, max_examples=15)
@given(scenario=scenarios(), reopen_at=st.integers(0, 9))
def test_maintained_answers_and_reports_stay_exact_across_a_restart_of_the_database_store(scenario, reopen_at):
    play(database_runtime(), scenario, reopen_at=reopen_at % len(scenario.steps))


def _database_url() -> str:
    """A URL for the test database that another process can open."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def writer(transactional_db: None) -> Iterator[Callable[[str, Edit], int]]:
    """A second process (tests/runtime/writer_proc.py) that applies edits; returns the revision after each."""
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "salsaweb.settings.test"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.runtime.writer_proc"],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    def send(namespace: str, edit: Edit) -> int:
        proc.stdin.write(json.dumps({"namespace": namespace, "edit": edit}) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line, f"the writer process died: {proc.stderr.read()}"
        return json.loads(line)["revision"]

    yield send
    proc.stdin.close()
    assert proc.wait(30) == 0, proc.stderr.read()


@pytest.mark.slow
@settings(SETTINGS, max_examples=10)
@given(scenario=scenarios())
def test_maintained_answers_and_reports_stay_exact_with_a_second_process_writing(writer, scenario):
    def write(rt: Runtime, step: Step) -> None:
        if step.elsewhere:
            assert writer(rt.storage.namespace, step.edit) == rt.revision
        else:
            apply_edit(rt, step.edit)

    play(database_runtime(), scenario, write)
