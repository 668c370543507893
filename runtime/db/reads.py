"""The reads: one namespace's rows at the unit of work's revision R, into the row cache.

Rows are read by key at first and, from the second key of a function on (``BULK_AFTER_KEYS``)
or when verification is about to walk a memo's dependencies (``prefetch``), all of that
function's rows at once, unless it has more than ``PREFETCH_LIMIT``.  A read by key brings the
whole row (small values inline, larger ones read when first used); a whole-function load
brings only what verification needs, and the first use of one of those memos' values reads the
function's values in one more query.  A maintained memo's input edges are read by key when
asked (with the version each read, current or archived, and the input's current row, which
then serves ``get_input``; an archived version, which never changes, is one record however many
edges name it), and the inputs changed since a revision come from one indexed
query that brings their rows too.  A read that shows a row changed after R raises
``StaleSnapshot`` (the engine restarts the call at the newer revision), and a value or detail
read later is taken only from a row that still holds what was read: every result is
consistent with one revision.
"""
from __future__ import annotations

from typing import Any, Iterable

from runtime.function import REGISTRY
from runtime.keys import Key
from runtime.memo import InputRecord, Memo, Seen
from runtime.storage.base import StaleSnapshot

from .cache import RowCache
from .records import ArchivedInput, FunctionRows, StoredInput, StoredInputDeps, StoredMemo
from .rows import key_digest, parse_args_text
from .sql import EDGE, INPUT, INPUT_COLUMNS, INPUTS, MEMO, MEMO_DETAILS, MEMOS, VERSION, Database, Table, chunks, inline

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
        found = self.db.run_large(f"SELECT value FROM {table} WHERE id = %s AND changed_at = %s",
                            [record.row_id, record.changed_at])
        if not found:  # rewritten or removed by another process since it was read
            raise StaleSnapshot()
        return found[0][0]

    def changed_inputs(self, revision: int) -> set[Key]:
        """The inputs set or deleted after ``revision``, their rows into the cache (StaleSnapshot if after R)."""
        rows = self.db.run(
            f"SELECT m.function, m.args_key, {INPUT_COLUMNS} FROM {INPUT} m "
            "WHERE m.namespace_id = %s AND m.changed_at > %s",
            [self.namespace_id, revision],
        )
        inputs, changed = self.cache.inputs, set()
        for function, args, *row in rows:
            if row[2] > self.revision:
                raise StaleSnapshot()
            key = (function, parse_args_text(args))
            changed.add(key)
            if key not in inputs:
                inputs[key] = StoredInput(self, row)
        return changed

    def input_deps(self, deps: StoredInputDeps, keys: Iterable[Key] | None) -> dict[Key, Seen]:
        """The stored input edges of ``deps`` among ``keys`` (all for None), with the version each read.

        One query per 5,000 keys, which also checks that the memo row still holds the write the
        edges belong to (else ``StaleSnapshot``) and brings each input's current row: one valid
        at R goes into the cache, so ``get_input`` of a changed dependency costs no query.
        """
        by_digest = None if keys is None else {key_digest(*key): key for key in keys}
        batches = [None] if by_digest is None else chunks(list(by_digest), 5000)
        found: dict[Key, Seen] = {}
        inputs, archived = self.cache.inputs, self.cache.archived
        for batch in batches:
            # By key through the (memo, key_digest) index alone (input keys have no derived edges), so the
            # planner never picks the (memo, kind, position) index and filters a memo's every edge.
            among = (" AND e.kind = 'input'" if batch is None
                     else f" AND e.key_digest IN ({', '.join(['%s'] * len(batch))})")
            rows = self.db.run(
                f"SELECT m.written_by, e.key_digest, e.position, e.read_at, e.function, e.args_key, "
                f"i.id, i.changed_at, i.deleted, {inline('i')}, a.id, a.deleted, {inline('a')} FROM {MEMO} m "
                f"LEFT JOIN {EDGE} e ON e.memo_id = m.id{among} "
                f"LEFT JOIN {INPUT} i ON i.namespace_id = m.namespace_id AND i.key_digest = e.key_digest "
                f"LEFT JOIN {VERSION} a ON a.namespace_id = m.namespace_id AND a.key_digest = e.key_digest "
                "AND a.changed_at = e.read_at WHERE m.id = %s",
                [*(batch or ()), deps.row_id],
            )
            if not rows or rows[0][0] != deps.token:  # removed, or rewritten by another process
                raise StaleSnapshot()
            for _, digest, position, read_at, function, args, *current in rows:
                if digest is None:
                    continue
                key = (function, parse_args_text(args)) if by_digest is None else by_digest[digest]
                record: InputRecord | None = None
                if current[0] is not None:
                    now = StoredInput(self, (current[0], digest, *current[1:4]))
                    if now.changed_at <= self.revision and key not in inputs:
                        inputs[key] = now
                    if read_at == now.changed_at:
                        record = now
                if read_at is not None and record is None:
                    if current[4] is None:
                        raise RuntimeError(f"the version of input {key} read at revision {read_at} is not stored")
                    # One record per version, so memos that read the same old version decode it once.
                    record = archived.get((digest, read_at))
                    if record is None:
                        record = archived[(digest, read_at)] = ArchivedInput(
                            self, (current[4], digest, read_at, current[5], current[6]))
                found[key] = Seen(position, record)
        return found

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
