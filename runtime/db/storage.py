"""The database backend: memos, dependency edges, inputs and revisions in the ``runtime`` app's tables.

A unit of work reads the namespace's revision ``R`` and epoch once.  Rows are read by key at
first and, from the second key of a function on (or when verification is about to walk a
memo's dependencies), all of that function's rows at once.  A read by key brings the whole
row (small values inline, larger ones read when first used); a whole-function load brings
only what verification needs, and the first use of one of those memos' values reads the
function's values in one more query.  What was read is kept across units of work, and across
revisions that (by the revision log) only changed inputs: those inputs are read again.
Anything that deletes memos bumps the namespace's epoch and makes it read everything again.
New and re-verified memos are buffered and written when the outermost unit of work ends, in
one transaction under the namespace's row lock, with multi-row statements; a re-verification
writes only a narrow ``Verification`` row.

Other processes may move the namespace on meanwhile: a read that shows a change after ``R``
raises ``StaleSnapshot`` and the engine restarts the call at the newer revision; a write
never overwrites a row that another process wrote, by the same code, at ``R`` or later; and
a memo is marked verified only if its row still holds the value that was verified.  So every
result is consistent with one revision, and no memo is verified at a revision it did not see.

Values are encoded by ``runtime.db.codec`` (never pickled); a value it cannot encode is
a ``TypeError`` naming the call and the type.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError

from runtime.registry import lookup
from runtime.storage.base import InputRecord, Key, Memo, StaleSnapshot, Storage, StoreStats
from .records import FunctionRows, StoredInput, StoredMemo
from .rows import key_digest, value_digest
from .sql import CODE, INPUTS, LOG, MEMO, MEMO_DETAILS, MEMOS, NAMESPACE, Database, Table
from .writes import MemoWriter, record_code, write_input

__all__ = ["DatabaseStorage", "NamespaceDeleted"]

#: Functions with more rows than this are read row by row instead of loaded whole.
PREFETCH_LIMIT = 5000
#: Rows of a function are read one key at a time until this many keys were asked for.
BULK_AFTER_KEYS = 2
#: Rows read at an older revision are kept if at most this many revisions (all input changes) passed.
FOLLOW_LOG_LIMIT = 1000
_MISSING = object()


class NamespaceDeleted(Exception):
    """The namespace was marked deleted (for garbage collection) and cannot be used."""


class _MemoCache(dict):  # type: ignore[type-arg]
    """The memos read in this snapshot, by key; a missing key is made from its row.

    ``DatabaseStorage.get_memo`` is this dict's own ``__getitem__``: the walk looks most memos
    up more than once, and a hit then costs a C call, as on the in-memory backend.
    """

    __slots__ = ("_storage", "_rows")

    def __init__(self, storage: DatabaseStorage, rows: dict[str, FunctionRows]) -> None:
        super().__init__()
        self._storage, self._rows = storage, rows

    def __missing__(self, key: Key) -> Memo | None:
        rows = self._rows.get(key[0])
        if rows is not None and rows.by_digest is not None:  # a function loaded whole: the walk's case, kept short
            row = rows.by_digest.get(key_digest(*key))
            memo = None if row is None else StoredMemo(rows, row, self._storage.revision)
        else:
            memo = self._storage._read_memo(key)
        self[key] = memo
        return memo


class DatabaseStorage(Storage):
    """Keeps a namespace's revision, inputs and memos in database tables shared by processes."""

    always_current = False

    def __init__(self, namespace: str, using: str = "default") -> None:
        self.namespace = namespace
        self.using = using
        self._db = Database(using)
        self.revision = 0
        self._namespace_id: int | None = None
        self._depth = 0
        self._write = False
        self._cached_at: tuple[int, int] | None = None
        self._writes = MemoWriter(self._db)
        self._reset_cache()

    # -- unit of work -------------------------------------------------------------------

    def _reset_cache(self) -> None:
        """Forget every row read."""
        self._memo_rows: dict[str, FunctionRows] = {}
        self._memos = _MemoCache(self, self._memo_rows)
        self.get_memo = self._memos.__getitem__  # type: ignore[method-assign]
        self._inputs: dict[Key, InputRecord | None] = {}
        self._input_rows: dict[str, FunctionRows] = {}
        # Code version by function, as the namespace recorded it when this unit of work began:
        # a function with no entry has no memos here, so reading its rows is skipped.
        self._codes: dict[str, str] = {}

    @contextmanager
    def unit_of_work(self, write: bool = False) -> Iterator[None]:
        """Read lazily, write at the end; a write unit of work holds the namespace lock throughout."""
        if self._depth:
            if write and not self._write:
                raise RuntimeError("inputs cannot change inside a read unit of work (rt.unit_of_work())")
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth, self._write = 1, write
        try:
            if write:
                outermost = not self._db.in_transaction()
                with self._db.atomic():
                    self._begin(lock=True)
                    yield
                # Committed under the lock, from the revision the cache is at: the cache holds the
                # change.  Inside a caller's transaction it may still roll back: read again then.
                self._cached_at = (self.revision, self._cached_at[1]) if outermost else None  # type: ignore[index]
            else:
                self._begin(lock=False)
                try:
                    yield
                finally:
                    self._flush()
        except BaseException:
            self._cached_at = None  # what was read or cached may not have been written
            raise
        finally:
            self._depth, self._write = 0, False
            self._writes.clear()

    def refresh(self) -> None:
        """Write the buffer (it is valid at the old revision) and start over at the newest one."""
        if not self._write:
            self._flush()
        self._writes.clear()
        self._cached_at = None
        self._begin(lock=self._write)

    def checkpoint(self) -> None:
        """Write the buffered memos now (as the end of the unit of work would), keeping the snapshot."""
        if self._depth and not self._write:
            self._flush()

    def _begin(self, lock: bool) -> None:
        """Read the namespace's revision, epoch and function code versions, in one query."""
        where, param = ("n.id = %s", self._namespace_id) if self._namespace_id else ("n.name = %s", self.namespace)
        suffix = self._db.for_update(" FOR UPDATE OF n") if lock else ""
        rows = self._db.run(
            f"SELECT n.id, n.revision, n.epoch, n.deleted_at, c.function, c.code_version FROM {NAMESPACE} n "
            f"LEFT JOIN {CODE} c ON c.namespace_id = n.id WHERE {where}{suffix}",
            [param],
        )
        if not rows:
            if self._namespace_id is not None:
                self._namespace_id = None
                raise NamespaceDeleted(f"namespace {self.namespace!r} was removed")
            rows = [(*self._create_namespace(), None, None)]
        namespace_id, revision, epoch, deleted_at = rows[0][:4]
        if deleted_at is not None:
            raise NamespaceDeleted(f"namespace {self.namespace!r} is marked deleted")
        self._namespace_id, self.revision = namespace_id, revision
        if self._cached_at != (revision, epoch) and not self._follow_log(revision, epoch):
            self._reset_cache()
        self._cached_at = (revision, epoch)
        self._codes = {function: code for *_, function, code in rows if function is not None}

    def _follow_log(self, revision: int, epoch: int) -> bool:
        """Keep what was read at an older revision when only inputs changed since: forget just those.

        A memo row read then is still a fact about that revision: the engine re-verifies it now,
        and a row another process rewrote meanwhile is at worst recomputed (the write keeps
        theirs).  So only the inputs of the functions the revision log names are dropped.
        Deleted memos (the epoch), code changes, a gap in the log or a long way to go drop all.
        """
        if self._cached_at is None:
            return False
        cached_revision, cached_epoch = self._cached_at
        if epoch != cached_epoch or not cached_revision < revision <= cached_revision + FOLLOW_LOG_LIMIT:
            return False
        log = self._db.run(
            f"SELECT revision, function, action FROM {LOG} WHERE namespace_id = %s AND revision > %s "
            "AND revision <= %s",
            [self._namespace_id, cached_revision, revision],
        )
        if len({row[0] for row in log}) != revision - cached_revision or any(row[2] == "code" for row in log):
            return False
        changed = {row[1] for row in log}
        for function in changed:
            self._input_rows.pop(function, None)
        self._inputs = {key: record for key, record in self._inputs.items() if key[0] not in changed}
        return True

    def _create_namespace(self) -> tuple[int, int, int, None]:
        from .models import Namespace

        try:
            with self._db.atomic():
                ns = Namespace.objects.using(self.using).create(name=self.namespace)
        except IntegrityError:  # another process created it first
            ns = Namespace.objects.using(self.using).get(name=self.namespace)
        return ns.id, ns.revision, ns.epoch, None

    # -- reading rows -------------------------------------------------------------------

    def _rows_of(self, known: dict[str, FunctionRows], function: str) -> FunctionRows:
        rows = known.get(function)
        if rows is None:
            rows = known[function] = FunctionRows(self, function)
        return rows

    def _row(self, table: Table, rows: FunctionRows, key: Key) -> tuple[Any, ...] | None:
        """The row of ``key``: from a whole-function load once that pays, else by key."""
        digest = key_digest(*key)
        if rows.by_digest is None and not rows.too_many and rows.asked + 1 >= BULK_AFTER_KEYS:
            self._load_function(table, rows)
        rows.asked += 1
        if rows.by_digest is not None:
            return rows.by_digest.get(digest)
        found = self._db.run(
            f"SELECT {table.by_key} FROM {table.source} WHERE m.namespace_id = %s AND m.key_digest = %s",
            [self._namespace_id, digest],
        )
        return found[0] if found else None

    def _load_function(self, table: Table, rows: FunctionRows) -> None:
        """Read every row of a function unless there are more than PREFETCH_LIMIT."""
        found = self._db.run(
            f"SELECT {table.whole} FROM {table.source} WHERE m.namespace_id = %s AND m.function = %s "
            f"LIMIT {PREFETCH_LIMIT + 1}",
            [self._namespace_id, rows.function],
        )
        if len(found) <= PREFETCH_LIMIT:
            rows.by_digest = {row[1]: row for row in found}
        else:
            rows.too_many = True

    def memo_details(self, rows: FunctionRows, memo: StoredMemo) -> tuple[str, float, bytes | None]:
        """The details of a memo loaded whole, read for all of its function's rows at the first use of one."""
        if rows.details is None:
            found = self._db.run(
                f"SELECT m.id, m.changed_at, {MEMO_DETAILS} FROM {MEMO} m "
                f"WHERE m.namespace_id = %s AND m.function = %s LIMIT {PREFETCH_LIMIT + 1}",
                [self._namespace_id, rows.function],
            )
            rows.details = {row[0]: row[1:] for row in found}
        found_row = rows.details.get(memo.row_id)
        if found_row is None or found_row[0] != memo.changed_at:  # rewritten or removed since it was read
            raise StaleSnapshot()
        return found_row[1:]

    def large_value(self, table: str, record: StoredMemo | StoredInput) -> bytes:
        """Read a large value, checking the row still holds what its metadata described."""
        found = self._db.run(f"SELECT value FROM {table} WHERE id = %s AND changed_at = %s",
                             [record.row_id, record.changed_at])
        if not found:  # rewritten or removed by another process since it was read
            raise StaleSnapshot()
        return found[0][0]

    def prefetch(self, key: Key) -> None:
        """Before verifying ``key``: load whole every function its memo read whose rows are not held yet."""
        memo = self._memos.get(key)
        if memo is None:
            return
        memos, inputs = self._memos, self._inputs
        for function in {dep[0] for dep in memo.deps if dep not in memos and dep not in inputs}:
            declared = lookup(function)
            if declared is None:
                continue
            table, known = (INPUTS, self._input_rows) if declared.is_input else (MEMOS, self._memo_rows)
            rows = self._rows_of(known, function)
            if rows.by_digest is None and not rows.too_many:
                self._load_function(table, rows)

    # -- memos --------------------------------------------------------------------------

    def get_memo(self, key: Key) -> Memo | None:  # replaced per snapshot by its _MemoCache's lookup
        """The memo of ``key`` as of ``revision`` (raises StaleSnapshot if it is newer)."""
        return self._memos[key]

    def _read_memo(self, key: Key) -> Memo | None:
        """Read the memo of ``key`` of a function not loaded whole (``get_memo`` caches what this returns)."""
        if key[0] not in self._codes:
            return None  # the namespace has never stored a memo of this function
        rows = self._rows_of(self._memo_rows, key[0])
        row = self._row(MEMOS, rows, key)
        return None if row is None else StoredMemo(rows, row, self.revision)

    def same_value(self, memo: Memo, value: Any) -> bool:
        """Compare digests of the encodings when the old value has not been decoded."""
        if isinstance(memo, StoredMemo) and not memo.decoded:
            try:
                return value_digest(self._writes.encode(value)) == memo.digest
            except TypeError:
                return False  # put_memo reports it
        return super().same_value(memo, value)

    def put_memo(self, key: Key, memo: Memo) -> None:
        """Encode now (so an unstorable value fails the call); write when the unit of work ends."""
        self._writes.add(key, memo, self._codes)
        self._memos[key] = memo

    def mark_verified(self, key: Key, memo: Memo) -> None:
        """Raise the memo to ``revision`` now; its row follows when the unit of work ends."""
        memo.verified_at = self.revision
        if isinstance(memo, StoredMemo):
            self._writes.verified[key] = memo

    def stored_code(self) -> dict[str, str]:
        """Code versions as the namespace recorded them when this unit of work began."""
        return dict(self._codes)

    def record_code(self, codes: dict[str, str]) -> None:
        """Record new code versions and log them (inside the write unit of work that started their revision)."""
        record_code(self._db, self._namespace_id, self.revision, codes, self._codes)  # type: ignore[arg-type]

    # -- inputs -------------------------------------------------------------------------

    def get_input(self, key: Key) -> InputRecord | None:
        """The input's record as of ``revision`` (raises StaleSnapshot if it changed later)."""
        record = self._inputs.get(key, _MISSING)
        if record is not _MISSING:
            return record  # type: ignore[return-value]
        row = self._row(INPUTS, self._rows_of(self._input_rows, key[0]), key)
        record = None
        if row is not None:
            if row[2] > self.revision:
                raise StaleSnapshot()
            record = StoredInput(self, row)
        self._inputs[key] = record
        return record

    def new_revision(self, changed: Key) -> int:
        """Bump the namespace's revision (inside the write unit of work's transaction)."""
        self.revision += 1
        self._db.run(f"UPDATE {NAMESPACE} SET revision = %s WHERE id = %s", [self.revision, self._namespace_id])
        return self.revision

    def set_input(self, key: Key, record: InputRecord) -> None:
        """Write the input row and its revision-log entry."""
        write_input(self._db, self._namespace_id, key, record)  # type: ignore[arg-type]
        self._inputs[key] = record

    # -- writing memos ------------------------------------------------------------------

    def _flush(self) -> None:
        """Write new and re-verified memos in one transaction under the namespace lock."""
        writes, namespace_id = self._writes, self._namespace_id
        if not writes.pending:
            return
        with self._db.atomic():
            if not writes.lock_namespace(namespace_id):  # type: ignore[arg-type]
                writes.clear()
                self._cached_at = None
                raise NamespaceDeleted(f"namespace {self.namespace!r} was deleted; its results are not stored")
            written = writes.write(namespace_id, self.revision, self._codes)  # type: ignore[arg-type]
        # The memos written become stored memos (so a later revision can record their re-verification);
        # for a call whose row another process wrote, forget what was read.
        for key, memo, row_id, digest in written:
            if row_id is None:
                self._memos.pop(key, None)
                self._memo_rows.pop(key[0], None)
            else:
                self._memos[key] = StoredMemo.written(self._rows_of(self._memo_rows, key[0]), row_id, memo, digest)
        writes.clear()

    # -- inspection ---------------------------------------------------------------------

    def stats(self) -> StoreStats:
        """Row counts of this namespace's tables."""
        from .models import InputValue, Memo as MemoRow, MemoDependency

        with self.unit_of_work():
            ns = self._namespace_id
            return StoreStats(
                inputs=InputValue.objects.using(self.using).filter(namespace_id=ns).count(),
                memos=MemoRow.objects.using(self.using).filter(namespace_id=ns).count(),
                edges=MemoDependency.objects.using(self.using).filter(namespace_id=ns).count(),
            )
