"""The process-wide table from function id to declared input or derived function.

The store names functions by id (``module.qualname``); verification uses this table to
find the function behind a dependency, to re-execute it or read it.  Declaring a
function again under the same id (a module reload) replaces the old entry.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from .api import DerivedFunction, InputFunction

    Declared = Union[DerivedFunction, InputFunction]

_REGISTRY: dict[str, "Declared"] = {}

#: Return the declared function with this id, or None.
lookup = _REGISTRY.get

#: ``GENERATION[0]`` grows whenever a function is declared anew or with other code, so a
#: runtime knows when to compare the declared code with the code its store last saw.
GENERATION = [0]


def register(fn: "Declared") -> None:
    """Make ``fn`` findable by its id."""
    old = _REGISTRY.get(fn.id)
    _REGISTRY[fn.id] = fn
    if old is None or getattr(old, "code", None) != getattr(fn, "code", None):
        GENERATION[0] += 1


def declared_code() -> dict[str, str]:
    """The code version of every declared derived function, by id."""
    return {fn_id: fn.code for fn_id, fn in _REGISTRY.items() if not fn.is_input}
