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
writes only a narrow ``Verification`` row.  A write unit of work (one input change, or a
``Runtime.transaction`` of several at one revision) is one database transaction: an exception
inside rolls it back and puts the revision back, and what was cached is read again.

Maintained memos (``runtime.maintain``): the inputs changed since a revision come from an index
on ``InputValue(namespace, changed_at)`` (``inputs_changed_since``, whose rows then serve
``get_input``), and a memo's input dependencies (``records.StoredInputDeps``) are edge rows read
by key when asked, written as the changes an execution saw, never loaded or rewritten whole.
An input version such an edge names is archived when overwritten, so its old value stays
available (``InputVersion``) until ``memo_gc`` finds no edge naming it.

Other processes may move the namespace on meanwhile: a read that shows a change after ``R``
raises ``StaleSnapshot`` and the engine restarts the call at the newer revision; a write
never overwrites a row that another process wrote, by the same code, at ``R`` or later; and
a memo is marked verified only if its row still holds the value that was verified.  So every
result is consistent with one revision, and no memo is verified at a revision it did not see.

Values are encoded by ``runtime.db.codec`` (never pickled); a value it cannot encode is
a ``TypeError`` naming the call and the type.

``DatabaseStorage`` is the ``Storage`` seam over the store's parts, each of which states the
guarantees it keeps: ``reads`` (rows at R, into the ``cache`` that follows the revision log),
``records`` (rows as the engine's memos and inputs), ``writes`` (the bulk writer), with
``rows`` (how keys, values and dependency lists are stored) and ``sql`` (tables, statements).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Collection

from django.db import IntegrityError

from runtime.keys import Key
from runtime.memo import InputDeps, InputRecord, Memo
from runtime.storage.base import Storage, StoreStats

from .reads import RowReader
from .records import StoredInputDeps, StoredMemo
from .rows import value_digest
from .sql import CODE, NAMESPACE, Database
from .writes import MemoWriter, record_code, write_input

__all__ = ["DatabaseStorage", "NamespaceDeleted"]

_MISSING = object()


class NamespaceDeleted(Exception):
    """The namespace was marked deleted (for garbage collection) and cannot be used."""


class DatabaseStorage(Storage):
    """Keeps a namespace's revision, inputs and memos in database tables shared by processes."""

    always_current = False

    def __init__(self, namespace: str, using: str = "default") -> None:
        self.namespace = namespace
        self.using = using
        self.revision = 0
        self._db = Database(using)
        # The reader holds the namespace's row id, its code versions and R (a copy of ``revision``,
        # which the engine reads directly); its cache holds what was read.
        self._reads = RowReader(self._db)
        self._cache = self._reads.cache
        self._writes = MemoWriter(self._db)
        self._depth = 0
        self._write = False
        # inputs_changed_since's answers at the unit of work's revision, by the revision asked about.
        self._changed_since: dict[int, Collection[Key]] = {}
        self.get_memo = self._cache.memos.__getitem__  # type: ignore[method-assign]  # a hit is a C call

    # -- unit of work -------------------------------------------------------------------

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
        revision = self.revision
        try:
            if write:
                outermost = not self._db.in_transaction()
                with self._db.atomic():
                    self._begin(lock=True)
                    revision = self.revision
                    yield
                # Committed under the lock, from the revision the cache is at: the cache holds the
                # change.  Inside a caller's transaction it may still roll back: read again then.
                if outermost:
                    self._cache.committed(self.revision)
                else:
                    self._cache.distrust()
            else:
                self._begin(lock=False)
                try:
                    yield
                finally:
                    self._flush()
        except BaseException:
            self._cache.distrust()  # what was read or cached may not have been written
            if write:
                self.revision = self._reads.revision = revision  # rolled back
            raise
        finally:
            self._depth, self._write = 0, False
            self._writes.clear()

    def refresh(self) -> None:
        """Write the buffer (it is valid at the old revision) and start over at the newest one."""
        if not self._write:
            self._flush()
        self._writes.clear()
        self._cache.distrust()
        self._begin(lock=self._write)

    def checkpoint(self) -> None:
        """Write the buffered memos now (as the end of the unit of work would), keeping the snapshot."""
        if self._depth and not self._write:
            self._flush()

    def _begin(self, lock: bool) -> None:
        """Read the namespace's revision, epoch and function code versions, in one query."""
        reads = self._reads
        where, param = ("n.id = %s", reads.namespace_id) if reads.namespace_id else ("n.name = %s", self.namespace)
        suffix = self._db.for_update(" FOR UPDATE OF n") if lock else ""
        rows = self._db.run(
            f"SELECT n.id, n.revision, n.epoch, n.deleted_at, c.function, c.code_version FROM {NAMESPACE} n "
            f"LEFT JOIN {CODE} c ON c.namespace_id = n.id WHERE {where}{suffix}",
            [param],
        )
        if not rows:
            if reads.namespace_id is not None:
                reads.namespace_id = None
                raise NamespaceDeleted(f"namespace {self.namespace!r} was removed")
            rows = [(*self._create_namespace(), None, None)]
        namespace_id, revision, epoch, deleted_at = rows[0][:4]
        if deleted_at is not None:
            raise NamespaceDeleted(f"namespace {self.namespace!r} is marked deleted")
        reads.namespace_id = namespace_id
        self.revision = reads.revision = revision
        self._changed_since.clear()
        self._cache.follow(namespace_id, revision, epoch)
        reads.codes = {function: code for *_, function, code in rows if function is not None}

    def _create_namespace(self) -> tuple[int, int, int, None]:
        from .models import Namespace

        try:
            with self._db.atomic():
                ns = Namespace.objects.using(self.using).create(name=self.namespace)
        except IntegrityError:  # another process created it first
            ns = Namespace.objects.using(self.using).get(name=self.namespace)
        return ns.id, ns.revision, ns.epoch, None

    def prefetch(self, key: Key) -> None:
        """Before verifying ``key``: load whole every function its memo read whose rows are not held yet."""
        self._reads.prefetch(key)

    # -- memos --------------------------------------------------------------------------

    def get_memo(self, key: Key) -> Memo | None:  # replaced per store by its memo cache's lookup
        """The memo of ``key`` as of ``revision`` (raises StaleSnapshot if it is newer)."""
        return self._cache.memos[key]

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
        try:
            self._writes.add(key, memo, self._reads.codes)
        except TypeError:
            if isinstance(memo.inputs, StoredInputDeps):
                memo.inputs.discard()  # the previous memo, which holds it too, stays as it was
            raise
        self._cache.memos[key] = memo

    def new_input_deps(self) -> InputDeps:
        """Input dependencies held in memory until the memo holding them is written, then read by key."""
        return StoredInputDeps(self._reads)

    def mark_verified(self, key: Key, memo: Memo) -> None:
        """Raise the memo to ``revision`` now; its row follows when the unit of work ends."""
        memo.verified_at = self.revision
        if isinstance(memo, StoredMemo):
            self._writes.verified[key] = memo

    def stored_code(self) -> dict[str, str]:
        """Code versions as the namespace recorded them when this unit of work began."""
        return dict(self._reads.codes)

    def record_code(self, codes: dict[str, str]) -> None:
        """Record new code versions and log them (inside the write unit of work that started their revision)."""
        record_code(self._db, self._reads.namespace_id, self.revision, codes, self._reads.codes)  # type: ignore[arg-type]

    # -- inputs -------------------------------------------------------------------------

    def get_input(self, key: Key) -> InputRecord | None:
        """The input's record as of ``revision`` (raises StaleSnapshot if it changed later)."""
        record = self._cache.inputs.get(key, _MISSING)
        if record is not _MISSING:
            return record  # type: ignore[return-value]
        return self._reads.input(key)

    def inputs_changed_since(self, revision: int) -> Collection[Key]:
        """The inputs set or deleted after ``revision``: one indexed query, whose rows then serve ``get_input``.

        Raises StaleSnapshot if one changed after this unit of work's revision.
        """
        if revision >= self.revision:
            return ()
        changed = self._changed_since.get(revision)
        if changed is None:
            changed = self._changed_since[revision] = self._reads.changed_inputs(revision)
        return changed

    def new_revision(self, changed: Key) -> int:
        """Bump the namespace's revision (inside the write unit of work's transaction)."""
        self.revision = self._reads.revision = self.revision + 1
        self._db.run(f"UPDATE {NAMESPACE} SET revision = %s WHERE id = %s", [self.revision, self._reads.namespace_id])
        return self.revision

    def set_input(self, key: Key, record: InputRecord) -> None:
        """Write the input row and its revision-log entry."""
        write_input(self._db, self._reads.namespace_id, key, record)  # type: ignore[arg-type]
        self._cache.inputs[key] = record
        self._changed_since.clear()

    # -- writing memos ------------------------------------------------------------------

    def _flush(self) -> None:
        """Write new and re-verified memos in one transaction under the namespace lock."""
        writes, namespace_id = self._writes, self._reads.namespace_id
        if not writes.pending:
            return
        with self._db.atomic():
            current = writes.lock_namespace(namespace_id)  # type: ignore[arg-type]
            if current is None:
                writes.clear()
                self._cache.distrust()
                raise NamespaceDeleted(f"namespace {self.namespace!r} was deleted; its results are not stored")
            token, written = writes.write(
                namespace_id, self.revision, current, self._reads.codes  # type: ignore[arg-type]
            )
        # The memos written become stored memos; for a call whose row another process wrote, forget what was read.
        for key, memo, row_id, digest in written:
            if row_id is not None and isinstance(memo.inputs, StoredInputDeps):
                memo.inputs.stored(row_id, token)
            self._cache.remember_written(key, memo, row_id, digest)
        writes.clear()

    # -- inspection ---------------------------------------------------------------------

    def stats(self) -> StoreStats:
        """Row counts of this namespace's tables."""
        from .models import InputValue, Memo as MemoRow, MemoDependency

        with self.unit_of_work():
            ns = self._reads.namespace_id
            return StoreStats(
                inputs=InputValue.objects.using(self.using).filter(namespace_id=ns).count(),
                memos=MemoRow.objects.using(self.using).filter(namespace_id=ns).count(),
                edges=MemoDependency.objects.using(self.using).filter(namespace_id=ns).count(),
            )
