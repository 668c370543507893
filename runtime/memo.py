"""The records the engine keeps: a memo per derived call, an input record per input, and failure markers.

A ``Memo`` holds a call's value and what re-verification needs: the revision its value last
changed at (``changed_at``, kept across an equal re-execution: backdating), the last revision
it was known current at (``verified_at``), the keys it read in the order it first read them
(``deps``) and the code version that computed it.  A call that fails keeps its previous memo
as a failure marker: the same record under ``failed_code(code)``.

A maintained function's memo (one that called ``changes``) also keeps ``inputs``: every
input it depends on, carried over from execution to execution, with the record it read of
each.  That set grows with the history, so the engine never walks it on the common path:
it asks about the keys the store's change log says changed (``InputDeps.seen``), and a
persistent store can answer from an index without loading the rest.  Its ``deps`` then
lists only the derived calls it depends on.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

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
    #: A maintained memo's input dependencies; None for every other memo (``deps`` has them all).
    inputs: "InputDeps | None" = None


@dataclass(slots=True, frozen=True)
class InputRecord:
    """An input's value and the revision it was last set (or deleted) at."""

    value: Any
    changed_at: int
    deleted: bool = False


class Seen(NamedTuple):
    """Where an input was first read among a memo's dependencies, and the record last read of it.

    ``record`` is None when the input had no record (never set); a tombstone when it was deleted.
    """

    position: int
    record: InputRecord | None


class InputDeps(ABC):
    """Every input one maintained memo depends on, with the record its executions last read."""

    @abstractmethod
    def __len__(self) -> int:
        """How many inputs the memo depends on."""

    @abstractmethod
    def seen(self, keys: Iterable[Key]) -> dict[Key, Seen]:
        """For those of ``keys`` the memo depends on: what it read of each (others are left out)."""

    @abstractmethod
    def entries(self) -> Iterator[tuple[Key, Seen]]:
        """Every dependency, in first-read order (for explain, and when the log cannot answer)."""

    @abstractmethod
    def saw(self, reads: Mapping[Key, InputRecord | None]) -> None:
        """Record the records the latest execution read: new keys go last, known ones are updated.

        A store may buffer this until ``put_memo`` stores the memo that holds this object.
        """


class DictInputDeps(InputDeps):
    """Input dependencies in a dict: the in-memory store's, and the default of every store."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[Key, Seen] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, keys: Iterable[Key]) -> dict[Key, Seen]:
        """Look each key up in the dict."""
        mine = self._seen
        return {key: mine[key] for key in keys if key in mine}

    def entries(self) -> Iterator[tuple[Key, Seen]]:
        """The dict's items, which are in first-read order."""
        return iter(list(self._seen.items()))

    def saw(self, reads: Mapping[Key, InputRecord | None]) -> None:
        """Update known keys in place, append new ones."""
        mine = self._seen
        for key, record in reads.items():
            old = mine.get(key)
            mine[key] = Seen(len(mine) if old is None else old.position, record)


def failed_code(code: str) -> str:
    """The code a memo is re-stored under when its call fails: a failure marker.

    Callers that caught the error were memoized at this revision, so the next value must
    count as changed even if it equals the one before the failure: a marker is never
    served (its code is not the function's), never verified, never backdated against,
    and still gives ``previous_output`` its value.
    """
    return FAILED_PREFIX + code
