"""The in-memory backend: plain dicts, lost with the process; the default storage.

Besides the dicts it keeps a log of input changes, which maintained memos are verified and
diffed with (``inputs_changed_since``), and undoes a write unit of work that raises, so an
exception inside ``Runtime.transaction`` applies none of its writes.
"""
from __future__ import annotations

from bisect import bisect_right
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Collection, Iterator

from ..keys import Key
from ..memo import FAILED_PREFIX, InputRecord, Memo
from .base import Storage, StoreStats

#: How many input changes the log keeps; older ones are forgotten half at a time.
LOG_KEPT = 100_000

_NOTHING: AbstractContextManager[None] = nullcontext()


class MemoryStorage(Storage):
    """Keeps everything in dicts owned by one process; nothing to load or flush."""

    always_current = True

    def __init__(self) -> None:
        self.revision = 0
        self._inputs: dict[Key, InputRecord] = {}
        self._memos: dict[Key, Memo] = {}
        self._codes: dict[str, str] = {}
        # The change log: the revision and key of every input change, in order.
        self._log_revisions: list[int] = []
        self._log_keys: list[Key] = []
        #: The log covers every change after this revision.
        self._log_from = 0
        # Records replaced in the open write unit of work (None: there was none), to undo.
        self._undo: dict[Key, InputRecord | None] | None = None
        # Bound C methods: the memo-hit path calls these directly.
        self.get_memo = self._memos.get  # type: ignore[method-assign]
        self.get_input = self._inputs.get  # type: ignore[method-assign]

    def unit_of_work(self, write: bool = False) -> AbstractContextManager[None]:
        """Nothing to load or flush; an outermost write unit of work that raises is undone."""
        if not write or self._undo is not None:
            return _NOTHING
        return self._undoable()

    @contextmanager
    def _undoable(self) -> Iterator[None]:
        """A write unit of work that puts back the inputs, log, revision and code it changed if it raises."""
        undo: dict[Key, InputRecord | None] = {}
        self._undo = undo
        revision, logged, codes = self.revision, len(self._log_keys), dict(self._codes)
        try:
            yield
        except BaseException:
            for key, record in undo.items():
                if record is None:
                    del self._inputs[key]
                else:
                    self._inputs[key] = record
            del self._log_revisions[logged:], self._log_keys[logged:]
            self.revision, self._codes = revision, codes
            raise
        finally:
            self._undo = None

    def get_input(self, key: Key) -> InputRecord | None:  # replaced per instance
        """Return the input record for ``key``."""
        return self._inputs.get(key)

    def set_input(self, key: Key, record: InputRecord) -> None:
        """Store the input record and log the change."""
        undo = self._undo
        if undo is not None and key not in undo:
            undo[key] = self._inputs.get(key)
        self._inputs[key] = record
        self._log_revisions.append(record.changed_at)
        self._log_keys.append(key)
        if len(self._log_keys) > LOG_KEPT:
            drop = LOG_KEPT // 2
            self._log_from = self._log_revisions[drop - 1]
            # Keep whole revisions: a transaction's changes share one.
            while drop < len(self._log_revisions) and self._log_revisions[drop] == self._log_from:
                drop += 1
            del self._log_revisions[:drop], self._log_keys[:drop]

    def inputs_changed_since(self, revision: int) -> Collection[Key] | None:
        """The keys logged after ``revision``, or None if the log was cut after it."""
        if revision < self._log_from:
            return None
        start = bisect_right(self._log_revisions, revision)
        return set(self._log_keys[start:])

    def new_revision(self, changed: Key) -> int:
        """Bump the revision counter."""
        self.revision += 1
        return self.revision

    def get_memo(self, key: Key) -> Memo | None:  # replaced per instance
        """Return the memo for ``key``."""
        return self._memos.get(key)

    def put_memo(self, key: Key, memo: Memo) -> None:
        """Store the memo."""
        self._memos[key] = memo
        if not memo.code.startswith(FAILED_PREFIX):
            self._codes[key[0]] = memo.code

    def stored_code(self) -> dict[str, str]:
        """The code of each function's latest memo."""
        return dict(self._codes)

    def record_code(self, codes: dict[str, str]) -> None:
        """Remember the new code."""
        self._codes.update(codes)

    def mark_verified(self, key: Key, memo: Memo) -> None:
        """Memos are shared objects here, so verifying updates them in place."""
        memo.verified_at = self.revision

    def stats(self) -> StoreStats:
        """Count inputs, memos and dependency edges (a maintained memo's inputs included)."""
        return StoreStats(
            inputs=len(self._inputs),
            memos=len(self._memos),
            edges=sum(len(m.deps) + (len(m.inputs) if m.inputs is not None else 0) for m in self._memos.values()),
        )
