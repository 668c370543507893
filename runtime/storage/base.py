"""The storage seam: the only interface between the engine and where its state lives.

A backend keeps four things: the current revision, input records, memos (value plus the
revisions and ordered dependency list the engine needs to verify them), and unit-of-work
boundaries.  For maintained memos it should also answer which inputs changed since a
revision, and keep the input records such a memo read for as long as the memo exists.  The engine never calls a backend outside a unit of work (except for the
lock-free memo-hit path when ``always_current`` is true), so a backend whose round trips
cost a query can load in bulk when a unit of work starts, serve reads from what it loaded,
and write everything at the end in one transaction.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Collection

from ..keys import Key
from ..memo import DictInputDeps, InputDeps, InputRecord, Memo
from ..values import values_equal


class StaleSnapshot(BaseException):
    """Raised by a backend when a read shows that another process moved past ``revision``.

    The engine abandons the top-level call, calls ``refresh()`` and runs the call again at
    the newer revision, so every result it returns is consistent with one revision.  A
    BaseException, so that a derived function's ``except Exception`` does not swallow it.
    """


@dataclass(slots=True)
class StoreStats:
    """Sizes a backend reports for inspection and benchmarks."""

    inputs: int = 0
    memos: int = 0
    edges: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Storage(ABC):
    """Where a ``Runtime`` keeps revisions, inputs and memos.

    ``revision`` is the revision that the current unit of work sees; it only changes
    through ``new_revision`` inside a write unit of work.  ``always_current`` is true when
    nothing outside this process can change the store, which lets the engine serve memo
    hits without opening a unit of work.
    """

    revision: int = 0
    always_current: bool = False

    @abstractmethod
    def unit_of_work(self, write: bool = False) -> AbstractContextManager[None]:
        """Bracket a top-level call (``write=False``) or an input change (``write=True``).

        Units of work nest; only the outermost one loads and flushes.  A write unit of
        work must be exclusive across every process sharing the store.
        """

    @abstractmethod
    def get_input(self, key: Key) -> InputRecord | None:
        """Return the input's record (a tombstone if deleted), or None if never set."""

    @abstractmethod
    def set_input(self, key: Key, record: InputRecord) -> None:
        """Store an input record (inside a write unit of work, after ``new_revision``)."""

    @abstractmethod
    def new_revision(self, changed: Key) -> int:
        """Start a new revision because ``changed`` changed; return its number."""

    @abstractmethod
    def get_memo(self, key: Key) -> Memo | None:
        """Return the memo of a derived call, or None if there is none."""

    @abstractmethod
    def put_memo(self, key: Key, memo: Memo) -> None:
        """Store a memo just computed at ``revision`` (replacing any older one)."""

    @abstractmethod
    def mark_verified(self, key: Key, memo: Memo) -> None:
        """Record that ``memo`` (as returned by ``get_memo``) is valid at ``revision``."""

    @abstractmethod
    def stored_code(self) -> dict[str, str]:
        """The code version of each derived function as the store last saw it (its memos' code)."""

    @abstractmethod
    def record_code(self, codes: dict[str, str]) -> None:
        """Take ``codes`` as the functions' current code (inside a write unit of work)."""

    def inputs_changed_since(self, revision: int) -> Collection[Key] | None:
        """The inputs set or deleted after ``revision`` (up to ``self.revision``), or None if unknown.

        Maintained memos are verified and diffed with this, so it should cost in proportion to
        the answer; None (the log no longer reaches back that far) makes the engine walk the
        memo's input dependencies instead.
        """
        return None

    def new_input_deps(self) -> InputDeps:
        """An empty set of input dependencies for a new maintained memo (see ``runtime.memo``)."""
        return DictInputDeps()

    def same_value(self, memo: Memo, value: Any) -> bool:
        """Whether ``value`` equals ``memo``'s value (for backdating); backends may avoid reading it."""
        return values_equal(memo.value, value)

    def refresh(self) -> None:
        """Between top-level calls: write what is buffered and move to the newest revision."""

    def checkpoint(self) -> None:
        """Between top-level calls: write what is buffered now and stay at the same revision."""

    def prefetch(self, key: Key) -> None:
        """Hint: the engine is about to verify ``key`` and everything it depends on."""

    def stats(self) -> StoreStats:
        """Report how much the backend holds."""
        return StoreStats()
