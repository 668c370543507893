"""The records the engine keeps: a memo per derived call, an input record per input, and failure markers.

A ``Memo`` holds a call's value and what re-verification needs: the revision its value last
changed at (``changed_at``, kept across an equal re-execution: backdating), the last revision
it was known current at (``verified_at``), the keys it read in the order it first read them
(``deps``) and the code version that computed it.  A call that fails keeps its previous memo
as a failure marker: the same record under ``failed_code(code)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .keys import Key

#: A memo whose code starts with this is a failed call's kept value: never served, and not the
#: function's code, so stores do not record it as such.
FAILED_PREFIX = "!"


@dataclass(slots=True, eq=False)
class Memo:
    """A memoized derived value and what is needed to re-verify it."""

    value: Any
    changed_at: int
    verified_at: int
    deps: tuple[Key, ...]
    code: str
    duration: float = 0.0


@dataclass(slots=True, frozen=True)
class InputRecord:
    """An input's value and the revision it was last set (or deleted) at."""

    value: Any
    changed_at: int
    deleted: bool = False


def failed_code(code: str) -> str:
    """The code a memo is re-stored under when its call fails: a failure marker.

    Callers that caught the error were memoized at this revision, so the next value must
    count as changed even if it equals the one before the failure: a marker is never
    served (its code is not the function's), never verified, never backdated against,
    and still gives ``previous_output`` its value.
    """
    return FAILED_PREFIX + code
