"""The row cache: what a process read of one namespace, kept while the revision log allows.

What was read is kept across units of work, and across revisions that (by the revision log)
only changed inputs: a memo row read then is still a fact about the revision it was read at,
which the engine re-verifies.  Only the inputs of the functions the log names are read again,
and the memos another process re-executed to a new value since (their ``changed_at`` is past
the revision they were read at): a stale copy would let a re-execution backdate against a
value that dependents written since never saw.  Anything that deletes memos bumps the namespace's epoch and makes the process
read everything again; so do code changes, a gap in the log and more than
``FOLLOW_LOG_LIMIT`` revisions.  A change this process committed under the namespace lock, from
the revision the cache is at, it keeps as it wrote it; after a failure (what was read may not
have been written, or a caller's transaction may still roll back) it reads everything again.
"""
from __future__ import annotations

from typing import Protocol

from runtime.keys import Key
from runtime.memo import InputRecord, Memo

from .records import FunctionRows, RowSource, StoredMemo
from .rows import key_digest
from .sql import LOG, MEMO, Database

__all__ = ["FOLLOW_LOG_LIMIT", "CacheSource", "MemoCache", "RowCache"]

#: Rows read at an older revision are kept if at most this many revisions (all input changes) passed.
FOLLOW_LOG_LIMIT = 1000


class CacheSource(RowSource, Protocol):
    """Where the cache's records and missing memos are read."""

    #: The revision the unit of work reads at: a memo row changed after it is stale.
    revision: int

    def memo(self, key: Key) -> Memo | None:
        """Read the memo of ``key`` (of a function not loaded whole)."""


class MemoCache(dict):  # type: ignore[type-arg]
    """The memos read, by key; a missing key is made from its row.

    ``DatabaseStorage.get_memo`` is this dict's own ``__getitem__``: the walk looks most memos
    up more than once, and a hit then costs a C call, as on the in-memory backend.
    """

    __slots__ = ("_source", "_rows")

    def __init__(self, source: CacheSource, rows: dict[str, FunctionRows]) -> None:
        super().__init__()
        self._source, self._rows = source, rows

    def __missing__(self, key: Key) -> Memo | None:
        rows = self._rows.get(key[0])
        if rows is not None and rows.by_digest is not None:  # a function loaded whole: the walk's case, kept short
            row = rows.by_digest.get(key_digest(*key))
            memo = None if row is None else StoredMemo(rows, row, self._source.revision)
        else:
            memo = self._source.memo(key)
        self[key] = memo
        return memo


class RowCache:
    """What was read of one namespace (memos and inputs, and their functions' rows), and when.

    ``at`` is the (revision, epoch) of the namespace that what is held is valid at, None when it
    must all be read again.  The containers are kept (and emptied in place), so whoever holds
    one, such as ``get_memo`` bound to ``memos``, always sees the cache's current content.
    """

    __slots__ = ("db", "source", "memo_rows", "memos", "inputs", "input_rows", "archived", "at")

    def __init__(self, db: Database, source: CacheSource) -> None:
        self.db, self.source = db, source
        self.memo_rows: dict[str, FunctionRows] = {}
        self.memos = MemoCache(source, self.memo_rows)
        self.inputs: dict[Key, InputRecord | None] = {}
        self.input_rows: dict[str, FunctionRows] = {}
        #: Overwritten input versions read in this unit of work, by (key digest, changed_at), so memos that read the
        #: same old version share its record (and decode it once); emptied as each unit of work begins.
        self.archived: dict[tuple[str, int], InputRecord] = {}
        self.at: tuple[int, int] | None = None

    def function_rows(self, known: dict[str, FunctionRows], function: str) -> FunctionRows:
        """What is known of ``function``'s rows in ``known`` (``memo_rows`` or ``input_rows``), made if nothing is."""
        rows = known.get(function)
        if rows is None:
            rows = known[function] = FunctionRows(self.source, function)
        return rows

    def forget(self) -> None:
        """Forget every row read."""
        self.memo_rows.clear()
        self.memos.clear()
        self.inputs.clear()
        self.input_rows.clear()

    def follow(self, namespace_id: int, revision: int, epoch: int) -> None:
        """At the start of a unit of work at ``revision``: keep what is still valid, forget the rest."""
        self.archived.clear()
        if self.at != (revision, epoch) and not self._follow_log(namespace_id, revision, epoch):
            self.forget()
        self.at = (revision, epoch)

    def _follow_log(self, namespace_id: int, revision: int, epoch: int) -> bool:
        """Keep what was read at an older revision when only inputs changed since: forget just those.

        A memo row read then is still a fact about that revision: the engine re-verifies it now,
        and a row another process rewrote meanwhile is at worst recomputed (the write keeps
        theirs).  So only the inputs of the functions the revision log names are dropped.
        Deleted memos (the epoch), code changes, a gap in the log or a long way to go drop all.
        """
        if self.at is None:
            return False
        cached_revision, cached_epoch = self.at
        if epoch != cached_epoch or not cached_revision < revision <= cached_revision + FOLLOW_LOG_LIMIT:
            return False
        log = self.db.run(
            f"SELECT revision, function, action FROM {LOG} WHERE namespace_id = %s AND revision > %s "
            "AND revision <= %s",
            [namespace_id, cached_revision, revision],
        )
        if len({row[0] for row in log}) != revision - cached_revision or any(row[2] == "code" for row in log):
            return False
        changed = {row[1] for row in log}
        for function in changed:
            self.input_rows.pop(function, None)
        for key in [key for key in self.inputs if key[0] in changed]:
            del self.inputs[key]
        self._forget_rewritten(namespace_id, cached_revision)
        return True

    def _forget_rewritten(self, namespace_id: int, cached_revision: int) -> None:
        """Forget the memos whose row changed value after ``cached_revision`` (the index on changed_at finds them)."""
        rewritten: dict[str, set[str]] = {}
        for function, digest in self.db.run(
            f"SELECT function, key_digest FROM {MEMO} WHERE namespace_id = %s AND changed_at > %s",
            [namespace_id, cached_revision],
        ):
            rewritten.setdefault(function, set()).add(digest)
        if not rewritten:
            return
        for function in rewritten:
            self.memo_rows.pop(function, None)
        for key in [key for key in self.memos if key[0] in rewritten and key_digest(*key) in rewritten[key[0]]]:
            del self.memos[key]

    def committed(self, revision: int) -> None:
        """This process committed, under the namespace lock, the change from ``at`` to ``revision``: keep it."""
        self.at = (revision, self.at[1])  # type: ignore[index]

    def distrust(self) -> None:
        """What is held may not be what the tables hold: read everything again at the next unit of work."""
        self.at = None

    def remember_written(self, key: Key, memo: Memo, row_id: int | None, digest: str) -> None:
        """After a flush: ``memo`` as written to row ``row_id`` (so a later revision can record its
        re-verification); if another process wrote the row instead (None), forget what was read."""
        if row_id is None:
            self.memos.pop(key, None)
            self.memo_rows.pop(key[0], None)
        else:
            self.memos[key] = StoredMemo.written(self.function_rows(self.memo_rows, key[0]), row_id, memo, digest)
