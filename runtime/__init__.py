"""Salsaweb's incremental engine: inputs, memoized derived functions, red-green re-verification.

Declare inputs with ``@declare_input`` and derived functions with ``@derived``; call them
with a ``Runtime`` first.  Storage plugs in behind ``runtime.storage.Storage``.
"""
from .api import DerivedFunction, InputFunction, declare_input, derived, previous_output
from .errors import CycleError, InputWriteError, MissingInputError, OutsideDerivedError, RuntimeEngineError
from .events import Counters, Event
from .explain import Explanation
from .runtime import Runtime

__all__ = [
    "Counters",
    "CycleError",
    "DerivedFunction",
    "Event",
    "Explanation",
    "InputFunction",
    "InputWriteError",
    "MissingInputError",
    "OutsideDerivedError",
    "Runtime",
    "RuntimeEngineError",
    "declare_input",
    "derived",
    "previous_output",
]
