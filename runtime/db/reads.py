"""The reads: one namespace's rows at the unit of work's revision R, into the row cache.

Rows are read by key at first and, from the second key of a function on (``BULK_AFTER_KEYS``)
or when verification is about to walk a memo's dependencies (``prefetch``), all of that
function's rows at once, unless it has more than ``PREFETCH_LIMIT``.  A read by key brings the
whole row (small values inline, larger ones read when first used); a whole-function load
brings only what verification needs, and the first use of one of those memos' values reads the
function's values in one more query.  A read that shows a row changed after R raises
``StaleSnapshot`` (the engine restarts the call at the newer revision), and a value or detail
read later is taken only from a row that still holds what was read: every result is
consistent with one revision.
"""
from __future__ import annotations

from typing import Any

from runtime.function import REGISTRY
from runtime.keys import Key
from runtime.memo import InputRecord, Memo
from runtime.storage.base import StaleSnapshot

from .cache import RowCache
from .records import FunctionRows, StoredInput, StoredMemo
from .rows import key_digest
from .sql import INPUTS, MEMO, MEMO_DETAILS, MEMOS, Database, Table

__all__ = ["BULK_AFTER_KEYS", "PREFETCH_LIMIT", "RowReader"]

#: Functions with more rows than this are read row by row instead of loaded whole.
PREFETCH_LIMIT = 5000
#: Rows of a function are read one key at a time until this many keys were asked for.
BULK_AFTER_KEYS = 2


class RowReader:
    """Reads a namespace's rows at one revision and keeps them in its ``cache``.

    ``namespace_id``, ``revision`` and ``codes`` (code version by function, as the namespace
    recorded them when the unit of work began: a function with no entry has no memos, so
    reading its rows is skipped) are set by the store at the start of each unit of work.
    """

    __slots__ = ("db", "cache", "namespace_id", "revision", "codes")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.cache = RowCache(db, self)
        self.namespace_id: int | None = None
        self.revision = 0
        self.codes: dict[str, str] = {}

    def memo(self, key: Key) -> Memo | None:
        """Read the memo of ``key`` of a function not loaded whole (the memo cache keeps what this returns)."""
        if key[0] not in self.codes:
            return None  # the namespace has never stored a memo of this function
        rows = self.cache.function_rows(self.cache.memo_rows, key[0])
        row = self._row(MEMOS, rows, key)
        return None if row is None else StoredMemo(rows, row, self.revision)

    def input(self, key: Key) -> InputRecord | None:
        """Read the input's record as of ``revision``, into the cache (raises StaleSnapshot if it changed later)."""
        row = self._row(INPUTS, self.cache.function_rows(self.cache.input_rows, key[0]), key)
        record = None
        if row is not None:
            if row[2] > self.revision:
                raise StaleSnapshot()
            record = StoredInput(self, row)
        self.cache.inputs[key] = record
        return record

    def prefetch(self, key: Key) -> None:
        """Before verifying ``key``: load whole every function its memo read whose rows are not held yet."""
        cache = self.cache
        memo = cache.memos.get(key)
        if memo is None:
            return
        memos, inputs = cache.memos, cache.inputs
        for function in {dep[0] for dep in memo.deps if dep not in memos and dep not in inputs}:
            declared = REGISTRY.lookup(function)
            if declared is None:
                continue
            table, known = (INPUTS, cache.input_rows) if declared.is_input else (MEMOS, cache.memo_rows)
            rows = cache.function_rows(known, function)
            if rows.by_digest is None and not rows.too_many:
                self._load_function(table, rows)

    def memo_details(self, rows: FunctionRows, memo: StoredMemo) -> tuple[str, float, bytes | None]:
        """The details of a memo loaded whole, read for all of its function's rows at the first use of one."""
        if rows.details is None:
            found = self.db.run(
                f"SELECT m.id, m.changed_at, {MEMO_DETAILS} FROM {MEMO} m "
                f"WHERE m.namespace_id = %s AND m.function = %s LIMIT {PREFETCH_LIMIT + 1}",
                [self.namespace_id, rows.function],
            )
            rows.details = {row[0]: row[1:] for row in found}
        found_row = rows.details.get(memo.row_id)
        if found_row is None or found_row[0] != memo.changed_at:  # rewritten or removed since it was read
            raise StaleSnapshot()
        return found_row[1:]

    def large_value(self, table: str, record: StoredMemo | StoredInput) -> bytes:
        """Read a large value, checking the row still holds what its metadata described."""
        found = self.db.run(f"SELECT value FROM {table} WHERE id = %s AND changed_at = %s",
                            [record.row_id, record.changed_at])
        if not found:  # rewritten or removed by another process since it was read
            raise StaleSnapshot()
        return found[0][0]

    def _row(self, table: Table, rows: FunctionRows, key: Key) -> tuple[Any, ...] | None:
        """The row of ``key``: from a whole-function load once that pays, else by key."""
        digest = key_digest(*key)
        if rows.by_digest is None and not rows.too_many and rows.asked + 1 >= BULK_AFTER_KEYS:
            self._load_function(table, rows)
        rows.asked += 1
        if rows.by_digest is not None:
            return rows.by_digest.get(digest)
        found = self.db.run(
            f"SELECT {table.by_key} FROM {table.source} WHERE m.namespace_id = %s AND m.key_digest = %s",
            [self.namespace_id, digest],
        )
        return found[0] if found else None

    def _load_function(self, table: Table, rows: FunctionRows) -> None:
        """Read every row of a function unless there are more than PREFETCH_LIMIT."""
        found = self.db.run(
            f"SELECT {table.whole} FROM {table.source} WHERE m.namespace_id = %s AND m.function = %s "
            f"LIMIT {PREFETCH_LIMIT + 1}",
            [self.namespace_id, rows.function],
        )
        if len(found) <= PREFETCH_LIMIT:
            rows.by_digest = {row[1]: row for row in found}
        else:
            rows.too_many = True
