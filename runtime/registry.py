"""A registry: the process-wide table from function id to declared function, and its generation.

The store names functions by id (``module.qualname``); verification uses the table to find
the function behind a dependency, to re-execute or read it.  Declaring a function again
under the same id (a module reload) replaces the old entry.  ``generation`` grows whenever a
declaration is new or brings other code, so a runtime knows when to compare the declared
code with the code its store last saw (``runtime.code``).  The engine's one registry, of
inputs and derived functions, is ``runtime.function.REGISTRY``.
"""
from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Declared functions by id, with the code of each derived one."""

    def __init__(self) -> None:
        self._functions: dict[str, T] = {}
        self._codes: dict[str, str] = {}
        self.generation = 0
        #: The function declared under an id, or None.  A bound ``dict.get``: verification
        #: calls it once per dependency.
        self.lookup = self._functions.get

    def register(self, fn_id: str, fn: T, code: str | None) -> None:
        """Make ``fn`` findable by ``fn_id``; ``code`` is its code version (None for an input)."""
        new = fn_id not in self._functions or self._codes.get(fn_id) != code
        self._functions[fn_id] = fn
        if code is None:
            self._codes.pop(fn_id, None)
        else:
            self._codes[fn_id] = code
        if new:
            self.generation += 1

    def codes(self) -> dict[str, str]:
        """The code version of every declared derived function, by id."""
        return dict(self._codes)
