"""Maintained sums, counts and minimums over keyed inputs, for the property tests and their writer process.

The inputs are ``cell(rt, k)`` for ``k`` in ``range(size(rt))``; a cell may have no value
(never set, or deleted).  ``msum``, ``mcount`` and ``mmin`` maintain their result with
``changes``: the first run reads every cell, later runs read only the new cells (and
``mmin`` reads them all again when its minimum may have gone).  Every execution appends an
``Execution`` to ``EXECUTIONS``: what ``changes`` returned and which inputs it read, so a
test can compare the report with the exact diff.  ``plain`` computes the same from scratch.

Edits are JSON-ready lists so that tests/runtime/writer_proc.py can apply them in another
process: ``["set", k, v]``, ``["delete", k]``, ``["new", k, v or None]`` (``size`` grows to
``k + 1``) and ``["batch", [edit, ...]]`` (sets and deletes in one transaction).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, NamedTuple

from runtime import MISSING, Change, MissingInputError, Runtime, changes, declare_input, derived, previous_output

#: An input as the tests name it: ("cell", (k,)) or ("size", ()).
Dep = tuple[str, tuple[int, ...]]
Edit = list[Any]


class Execution(NamedTuple):
    """One execution of a maintained function: what ``changes`` told it, and the inputs it read in order."""

    name: str
    delta: tuple[Change, ...] | None
    reads: tuple[Dep, ...]


EXECUTIONS: list[Execution] = []


@declare_input
def cell(rt, k: int) -> int:
    """Cell ``k``; it may have no value."""


@declare_input
def size(rt) -> int:
    """How many cells there are: 0 .. size - 1."""


class Reader:
    """Reads inputs for one execution and remembers which, in order."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.reads: list[Dep] = []

    def size(self) -> int:
        """``size(rt)``."""
        self.reads.append(("size", ()))
        return size(self.rt)

    def cell(self, k: int) -> Any:
        """``cell(rt, k)``, or ``MISSING`` when it has no value."""
        self.reads.append(("cell", (k,)))
        try:
            return cell(self.rt, k)
        except MissingInputError:
            return MISSING


def present(values: Iterable[Any]) -> list[int]:
    """The values that are not ``MISSING``."""
    return [v for v in values if v is not MISSING]


def number(value: Any) -> int:
    """A value as a number: 0 for ``MISSING``."""
    return 0 if value is MISSING else value


#: (old, new) values of one cell: a reported change, or a new cell (old ``MISSING``).
Pair = tuple[Any, Any]


def maintain(rt: Any, name: str, scratch: Callable[[list[Any]], Any], update: Callable[[Any, list[Pair]], Any]) -> Any:
    """The body the maintained functions share.

    ``scratch(values)`` computes the result from every cell's value; ``update(prev, pairs)``
    brings the previous result up to date with the changed and new cells, or returns None
    to start over.  Cells at or above the previous ``size`` are new: read now, reported never.
    """
    prev, delta = previous_output(rt), changes(rt)
    reader = Reader(rt)
    n = reader.size()
    result = None
    if prev is not None and delta is not None:
        old_n = next((c.old for c in delta if c.function is size), n)
        pairs = [(c.old, c.new) for c in delta if c.function is cell and c.key[0] < old_n]
        result = update(prev, pairs + [(MISSING, reader.cell(k)) for k in range(old_n, n)])
    if result is None:
        result = scratch([reader.cell(k) for k in range(n)])
    EXECUTIONS.append(Execution(name, delta, tuple(reader.reads)))
    return result


def _min_update(prev: tuple[int | None], pairs: list[Pair]) -> tuple[int | None] | None:
    """The minimum after the changes, or None (start over) when a cell holding it lost it or went up."""
    (m,) = prev
    for old, new in pairs:
        if old is not MISSING and old == m and (new is MISSING or new > old):
            return None
    return (min(present([MISSING if m is None else m, *(new for _, new in pairs)]), default=None),)


@derived
def msum(rt) -> int:
    """The sum of the cells' values."""
    return maintain(
        rt, "msum", lambda values: sum(present(values)), lambda t, pairs: t + sum(number(n) - number(o) for o, n in pairs)
    )


@derived
def mcount(rt) -> int:
    """How many cells have a value."""
    return maintain(
        rt,
        "mcount",
        lambda values: len(present(values)),
        lambda c, pairs: c + sum((n is not MISSING) - (o is not MISSING) for o, n in pairs),
    )


@derived
def mmin(rt) -> tuple[int | None]:
    """The smallest value of a cell (None without any), in a 1-tuple so that it is never a "no result" None."""
    return maintain(rt, "mmin", lambda values: (min(present(values), default=None),), _min_update)


MAINTAINED = {"msum": msum, "mcount": mcount, "mmin": mmin}


@derived
def plain(rt) -> tuple[int, int, int | None]:
    """Sum, count and minimum of the cells, from scratch on every execution."""
    values = present(Reader(rt).cell(k) for k in range(size(rt)))
    return (sum(values), len(values), min(values, default=None))


def apply_edit(rt: Runtime, edit: Edit) -> None:
    """Apply one edit (see the module docstring) to the runtime's inputs."""
    kind = edit[0]
    if kind == "set":
        cell.set(rt, edit[1], edit[2])
    elif kind == "delete":
        cell.delete(rt, edit[1])
    elif kind == "new":
        with rt.transaction():
            if edit[2] is not None:
                cell.set(rt, edit[1], edit[2])
            size.set(rt, edit[1] + 1)
    else:
        with rt.transaction():
            for inner in edit[1]:
                apply_edit(rt, inner)
