"""Changes: what a maintained function is told about its inputs since its previous execution.

``changes(rt)`` (``runtime.maintain``) returns ``Change`` records: one per input the previous
execution read whose value differs now.  ``MISSING`` stands for "no value": an input that
was deleted, or that was never set when it was read.
"""
from __future__ import annotations

from typing import Any, NamedTuple


class _Missing:
    """The type of ``MISSING``: one instance, falsy, pickled as itself."""

    _instance: "_Missing | None" = None

    def __new__(cls) -> "_Missing":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


#: The old or new "value" of an input that had none (deleted, or never set).
MISSING: Any = _Missing()


class Change(NamedTuple):
    """One input read by the previous execution whose value differs now.

    ``function`` is the ``InputFunction``, ``key`` its argument tuple, ``old`` the value the
    previous execution read and ``new`` the current one (either may be ``MISSING``).
    """

    function: Any
    key: tuple[Any, ...]
    old: Any
    new: Any
