"""Property tests: random programs of derived functions over random inputs, under random edits.

A program is a DAG of nodes; each node combines inputs and earlier nodes with one of a
few operations, including a branch (its dependencies change with the data) and a handler
that catches MissingInputError.  After every input set or delete, each answer of the
incremental runtime must equal a from-scratch computation in a fresh runtime and a plain
Python evaluation, and (when every node is queried at every step) the nodes that executed
must be exactly those whose previous reads changed.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime import MissingInputError, Runtime, declare_input, derived

Ref = tuple[str, int]  # ("in", input index) or ("node", node index)
Spec = tuple[str, tuple[Ref, ...]]
Outcome = tuple[str, object]  # ("ok", value) or ("missing", label of the missing input)

OPS = ("sum", "mod3", "branch", "handle")
PROGRAMS: dict[str, tuple[Spec, ...]] = {}
EXECUTED: list[tuple[str, int]] = []
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@declare_input
def cell(rt, program: str, j: int) -> int:
    """Input ``j`` of a generated program."""


@derived
def node(rt, program: str, i: int) -> int:
    EXECUTED.append((program, i))
    return evaluate(PROGRAMS[program][i], lambda ref: _engine_read(rt, program, ref))


def _engine_read(rt: Runtime, program: str, ref: Ref) -> int:
    """Read an operand through the engine."""
    kind, index = ref
    return cell(rt, program, index) if kind == "in" else node(rt, program, index)


def evaluate(spec: Spec, read: Callable[[Ref], int]) -> int:
    """A node's value from its operands, read left to right (shared by engine and reference)."""
    op, operands = spec
    if op == "handle":
        try:
            return read(operands[0])
        except MissingInputError:
            return -1
    if op == "branch":
        return read(operands[1]) if read(operands[0]) % 2 == 0 else read(operands[2])
    total = sum(read(ref) for ref in operands)
    return total % 3 if op == "mod3" else total


def missing_label(error: MissingInputError) -> str:
    """The input named by a MissingInputError ("input cell(rt, 'p', 2) was never set")."""
    return str(error).removeprefix("input ").split(" was ")[0]


def input_label(program: str, j: int) -> str:
    """How the engine names input ``j`` of ``program``."""
    return f"cell(rt, {program!r}, {j})"


class Reference:
    """Plain-Python evaluation of a program over a dict of inputs, recording what each node read."""

    def __init__(self, program: str, inputs: dict[int, int]) -> None:
        self.program = program
        self.inputs = dict(inputs)
        self.outcomes: dict[int, Outcome] = {}
        self.reads: dict[int, list[Ref]] = {}

    def outcome(self, i: int) -> Outcome:
        """Node ``i``'s value, or the input whose absence made it fail."""
        if i not in self.outcomes:
            reads: list[Ref] = []
            try:
                result: Outcome = ("ok", evaluate(PROGRAMS[self.program][i], lambda ref: self._read(ref, reads)))
            except MissingInputError as error:
                result = ("missing", missing_label(error))
            self.outcomes[i] = result
            self.reads[i] = reads
        return self.outcomes[i]

    def _read(self, ref: Ref, reads: list[Ref]) -> int:
        reads.append(ref)
        kind, index = ref
        if kind == "in":
            if index not in self.inputs:
                raise MissingInputError(f"input {input_label(self.program, index)} was never set")
            return self.inputs[index]
        outcome = self.outcome(index)
        if outcome[0] != "ok":
            raise MissingInputError(f"input {outcome[1]} was never set")
        return outcome[1]  # type: ignore[return-value]


def engine_outcome(rt: Runtime, program: str, i: int) -> Outcome:
    """Node ``i`` through the engine, as an Outcome."""
    try:
        return ("ok", node(rt, program, i))
    except MissingInputError as error:
        return ("missing", missing_label(error))


def justified(i: int, before: Reference, after: Reference) -> bool:
    """Whether node ``i`` must re-execute: it failed last time, or (in a new revision) a read changed.

    A failed dependency counts as changed: its error is not memoized, so it runs again.
    Without a new revision every memo is still current.
    """
    if before.outcomes[i][0] != "ok":
        return True
    if before.inputs == after.inputs:
        return False
    for kind, index in before.reads[i]:
        if kind == "in":
            if before.inputs.get(index) != after.inputs.get(index):
                return True
        elif before.outcomes[index][0] != "ok" or after.outcomes[index] != before.outcomes[index]:
            return True
    return False


@dataclass(frozen=True)
class Scenario:
    """A program, its initial inputs, and the edits applied one by one (each with nodes to query)."""

    nodes: tuple[Spec, ...]
    initial: dict[int, int]
    steps: tuple[tuple[tuple, tuple[int, ...]], ...]
    max_depth: int | None

    @property
    def program(self) -> str:
        """A name for the program, the same for the same nodes."""
        return hashlib.sha1(repr(self.nodes).encode()).hexdigest()[:12]


@st.composite
def scenarios(draw: st.DrawFn, query_all: bool) -> Scenario:
    """Random DAG programs (1-4 inputs, 1-8 nodes), initial inputs and 1-8 edits."""
    n_inputs = draw(st.integers(1, 4))
    n_nodes = draw(st.integers(1, 8))
    values = st.integers(-3, 3)
    nodes = []
    for i in range(n_nodes):
        refs = st.tuples(st.just("in"), st.integers(0, n_inputs - 1))
        if i:
            refs = refs | st.tuples(st.just("node"), st.integers(0, i - 1))
        op = draw(st.sampled_from(OPS))
        arity = {"branch": 3, "handle": 1}.get(op) or draw(st.integers(1, 3))
        nodes.append((op, tuple(draw(refs) for _ in range(arity))))
    initial = {j: v for j in range(n_inputs) if (v := draw(st.none() | values)) is not None}
    edit = st.tuples(st.just("set"), st.integers(0, n_inputs - 1), values) | st.tuples(
        st.just("delete"), st.integers(0, n_inputs - 1)
    )
    everything = tuple(range(n_nodes))
    queries = st.permutations(everything) if query_all else st.lists(st.sampled_from(everything), max_size=n_nodes)
    steps = draw(st.lists(st.tuples(edit, queries.map(tuple)), min_size=1, max_size=8))
    max_depth = draw(st.sampled_from([None, 2]))
    return Scenario(tuple(nodes), initial, tuple(steps), max_depth)


def apply_edit(rt: Runtime, program: str, inputs: dict[int, int], edit: tuple) -> None:
    """Apply one edit to the runtime and to the plain dict (deleting an absent input does nothing)."""
    if edit[0] == "set":
        _, j, value = edit
        cell.set(rt, program, j, value)
        inputs[j] = value
    elif edit[1] in inputs:
        cell.delete(rt, program, edit[1])
        del inputs[edit[1]]


def from_scratch(make_runtime: Callable[..., Runtime], program: str, inputs: dict[int, int], n: int) -> list[Outcome]:
    """Every node's outcome in a fresh runtime that has only the current inputs."""
    fresh = make_runtime()
    for j, value in inputs.items():
        cell.set(fresh, program, j, value)
    return [engine_outcome(fresh, program, i) for i in range(n)]


def start(make_runtime: Callable[..., Runtime], scenario: Scenario) -> tuple[Runtime, str, dict[int, int]]:
    """Register the program and make the incremental runtime with the initial inputs."""
    program = scenario.program
    PROGRAMS[program] = scenario.nodes
    rt = make_runtime(max_depth=scenario.max_depth)
    inputs = dict(scenario.initial)
    for j, value in inputs.items():
        cell.set(rt, program, j, value)
    return rt, program, inputs


@SETTINGS
@given(scenario=scenarios(query_all=True))
def test_incremental_answers_equal_from_scratch_and_only_changed_calls_reexecute(make_runtime, scenario):
    rt, program, inputs = start(make_runtime, scenario)
    n = len(scenario.nodes)
    everything = tuple(range(n))
    before = Reference(program, inputs)
    for i in everything:
        assert engine_outcome(rt, program, i) == before.outcome(i)
    for edit, order in scenario.steps:
        apply_edit(rt, program, inputs, edit)
        after = Reference(program, inputs)
        EXECUTED.clear()
        answers = {i: engine_outcome(rt, program, i) for i in order}
        executed = {i for p, i in EXECUTED if p == program}
        expected = [after.outcome(i) for i in everything]
        assert [answers[i] for i in everything] == expected
        assert from_scratch(make_runtime, program, inputs, n) == expected
        assert executed == {i for i in everything if justified(i, before, after)}
        before = after


@SETTINGS
@given(scenario=scenarios(query_all=False))
def test_answers_stay_correct_when_only_some_calls_are_queried(make_runtime, scenario):
    rt, program, inputs = start(make_runtime, scenario)
    for edit, queried in scenario.steps:
        apply_edit(rt, program, inputs, edit)
        reference = Reference(program, inputs)
        for i in queried:
            assert engine_outcome(rt, program, i) == reference.outcome(i)
    reference = Reference(program, inputs)
    assert [engine_outcome(rt, program, i) for i in range(len(scenario.nodes))] == [
        reference.outcome(i) for i in range(len(scenario.nodes))
    ]


@pytest.mark.parametrize("max_depth", [None, 2])
def test_reference_model_agrees_on_a_known_program(make_runtime, max_depth):
    nodes: tuple[Spec, ...] = (
        ("sum", (("in", 0), ("in", 1))),
        ("mod3", (("node", 0),)),
        ("branch", (("node", 1), ("in", 0), ("in", 1))),
        ("handle", (("in", 2),)),
        ("sum", (("node", 2), ("node", 3))),
    )
    scenario = Scenario(nodes, {0: 1, 1: 2}, ((("set", 2, 5), (0, 1, 2, 3, 4)),), max_depth)
    rt, program, inputs = start(make_runtime, scenario)
    assert [engine_outcome(rt, program, i) for i in range(5)] == [("ok", 3), ("ok", 0), ("ok", 1), ("ok", -1), ("ok", 0)]
    apply_edit(rt, program, inputs, ("delete", 0))
    label = input_label(program, 0)
    assert [engine_outcome(rt, program, i) for i in range(5)] == [("missing", label)] * 3 + [("ok", -1), ("missing", label)]
