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


def register(fn: "Declared") -> None:
    """Make ``fn`` findable by its id."""
    _REGISTRY[fn.id] = fn
