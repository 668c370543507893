"""Errors the engine raises; every one is exported from ``runtime``."""
from __future__ import annotations


class RuntimeEngineError(Exception):
    """Base class of the errors that the engine itself raises."""


class MissingInputError(KeyError, RuntimeEngineError):
    """An input was read (or deleted) that has no value: never set, or deleted."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # KeyError would repr() the message; keep it readable
        return self.message


class CycleError(RuntimeEngineError):
    """A derived call depends on itself; ``cycle`` lists the calls, first and last the same."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__("dependency cycle: " + " -> ".join(cycle))
        self.cycle = cycle


class InputWriteError(RuntimeEngineError):
    """An input was set or deleted from inside a derived function of the same runtime."""


class OutsideDerivedError(RuntimeEngineError):
    """An API that only makes sense inside a derived function was called outside one."""
