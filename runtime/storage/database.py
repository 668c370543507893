"""The database backend: memos, dependency edges, inputs and revisions in the ``runtime`` app's tables.

A unit of work reads the namespace's revision ``R`` and epoch once.  Rows are read by key at
first and, from the second key of a function on (or when verification is about to walk a
memo's dependencies), all of that function's rows at once; small values come with the rows,
larger ones are read when first used.  What was read is kept across units of work until the
revision or the epoch (bumped by anything that deletes memos) moves.  New and re-verified
memos are buffered and written when the outermost unit of work ends, in one transaction
under the namespace's row lock, with multi-row statements.

Other processes may move the namespace on meanwhile: a read that shows a change after ``R``
raises ``StaleSnapshot`` and the engine restarts the call at the newer revision; a write
never overwrites a row that another process wrote, by the same code, at ``R`` or later; and
a memo is marked verified only if its row still holds the value that was verified.  So every
result is consistent with one revision, and no memo is verified at a revision it did not see.

Values are encoded by ``runtime.storage.codec`` (never pickled); a value it cannot encode is
a ``TypeError`` naming the call and the type.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Hashable

import msgpack
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from ..keys import call_label
from ..registry import lookup
from .base import FAILED_PREFIX, InputRecord, Key, Memo, StaleSnapshot, Storage, StoreStats
from .codec import decode, encode, preview, register_codec

__all__ = ["DatabaseStorage", "NamespaceDeleted", "args_text", "key_digest", "parse_args_text", "register_codec"]

#: Functions with more rows than this are read row by row instead of loaded whole.
PREFETCH_LIMIT = 5000
#: Rows of a function are read one key at a time until this many keys were asked for.
BULK_AFTER_KEYS = 2
#: Values up to this many bytes come with the rows a load reads; larger ones on first use.
INLINE_VALUE_BYTES = 8192
#: Bound parameters per statement (SQLite allows 32,766; PostgreSQL 65,535).
MAX_PARAMS = 30000
_MISSING = object()
_PROCESS = f"{socket.gethostname()}:{os.getpid()}"
_MEMO, _EDGE, _INPUT = "runtime_memo", "runtime_memodependency", "runtime_inputvalue"
_NAMESPACE, _CODE = "runtime_namespace", "runtime_functioncode"
_INLINE = f"CASE WHEN length(value) <= {INLINE_VALUE_BYTES} THEN value END"
_MEMO_COLUMNS = f"id, key_digest, value_digest, changed_at, verified_at, code_version, duration, deps, {_INLINE}"
_INPUT_COLUMNS = f"id, key_digest, changed_at, deleted, {_INLINE}"


class NamespaceDeleted(Exception):
    """The namespace was marked deleted (for garbage collection) and cannot be used."""


def args_text(key_args: tuple[Hashable, ...]) -> str:
    """Canonical text of normalized arguments (``repr`` is exact for the types keys allow)."""
    return repr(key_args)


@functools.lru_cache(maxsize=65536)
def parse_args_text(text: str) -> tuple[Hashable, ...]:
    """Inverse of ``args_text``."""
    return ast.literal_eval(text)


@functools.lru_cache(maxsize=65536)
def key_digest(function: str, key_args: tuple[Hashable, ...]) -> str:
    """The 40-hex-digit digest that identifies a key within a namespace."""
    return hashlib.sha1(f"{function}\x00{args_text(key_args)}".encode()).hexdigest()


def value_digest(blob: bytes) -> str:
    """Digest of an encoded value: equal digests mean bit-identical values."""
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def pack_deps(deps: tuple[Key, ...]) -> bytes:
    """Encode a dependency list; plain MessagePack (decoded in C) unless an argument needs the codec."""
    try:
        return b"m" + msgpack.packb(deps, use_bin_type=True)
    except (OverflowError, TypeError):
        return b"c" + encode(deps)


def unpack_deps(blob: bytes) -> tuple[Key, ...]:
    """Inverse of ``pack_deps``: keys are tuples of tuples again."""
    if blob[0] == 0x6D:  # b"m"
        return _unpack_plain(memoryview(blob)[1:])
    return decode(bytes(blob[1:]))


_unpack_plain = functools.partial(msgpack.unpackb, use_list=False, raw=False)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StoredMemo(Memo):
    """A memo read from the table: its value is decoded (or read) on first use."""

    __slots__ = ("row_id", "digest", "_storage", "_blob", "_loaded")

    def __init__(self, storage: DatabaseStorage, row: tuple[Any, ...], verified_at: int) -> None:
        # Slots are set directly (not through Memo.__init__): thousands are made per load.
        self.row_id, _, self.digest, self.changed_at, _, self.code, self.duration, deps, self._blob = row
        self.verified_at, self.deps, self._storage, self._loaded = verified_at, unpack_deps(deps), storage, False

    @property  # type: ignore[override]
    def value(self) -> Any:
        """The decoded value."""
        if not self._loaded:
            blob = self._blob if self._blob is not None else self._storage._read_value(_MEMO, self)
            Memo.value.__set__(self, decode(blob))  # type: ignore[attr-defined]
            self._blob, self._loaded = None, True
        return Memo.value.__get__(self)  # type: ignore[attr-defined]

    @value.setter
    def value(self, new: Any) -> None:
        Memo.value.__set__(self, new)  # type: ignore[attr-defined]


class StoredInput(InputRecord):
    """An input row: its value is decoded (or read) on first use."""

    __slots__ = ("row_id", "_storage", "_blob", "_loaded")

    def __init__(self, storage: DatabaseStorage, row: tuple[Any, ...]) -> None:
        row_id, _, changed_at, deleted, blob = row
        for name, value in (("row_id", row_id), ("_storage", storage), ("_blob", blob), ("_loaded", bool(deleted))):
            object.__setattr__(self, name, value)
        InputRecord.__init__(self, None, changed_at, bool(deleted))

    @property  # type: ignore[override]
    def value(self) -> Any:
        """The decoded value."""
        if not self._loaded:
            blob = self._blob if self._blob is not None else self._storage._read_value(_INPUT, self)
            InputRecord.value.__set__(self, decode(blob))  # type: ignore[attr-defined]
            object.__setattr__(self, "_blob", None)
            object.__setattr__(self, "_loaded", True)
        return InputRecord.value.__get__(self)  # type: ignore[attr-defined]

    @value.setter
    def value(self, new: Any) -> None:
        InputRecord.value.__set__(self, new)  # type: ignore[attr-defined]


class _Rows:
    """What is known of one function's rows: loaded whole (``by_digest``) or read key by key."""

    __slots__ = ("by_digest", "asked", "too_many")

    def __init__(self) -> None:
        self.by_digest: dict[str, tuple[Any, ...]] | None = None
        self.asked = 0
        self.too_many = False  # more rows than PREFETCH_LIMIT: always read by key


class DatabaseStorage(Storage):
    """Keeps a namespace's revision, inputs and memos in database tables shared by processes."""

    always_current = False

    def __init__(self, namespace: str, using: str = "default") -> None:
        self.namespace = namespace
        self.using = using
        self.revision = 0
        self._namespace_id: int | None = None
        self._depth = 0
        self._write = False
        self._cached_at: tuple[int, int] | None = None
        self._reset_cache()
        self._reset_buffers()

    # -- unit of work -------------------------------------------------------------------

    def _reset_cache(self) -> None:
        """Forget every row read."""
        self._memos: dict[Key, Memo | None] = {}
        self._inputs: dict[Key, InputRecord | None] = {}
        self._memo_rows: dict[str, _Rows] = {}
        self._input_rows: dict[str, _Rows] = {}
        # Code version by function, as the namespace recorded it when this unit of work began:
        # a function with no entry has no memos here, so reading its rows is skipped.
        self._codes: dict[str, str] = {}

    def _reset_buffers(self) -> None:
        self._new: dict[Key, tuple[Memo, bytes, str]] = {}
        self._new_codes: dict[str, str] = {}
        self._verified: dict[Key, StoredMemo] = {}
        self._last_encoded: tuple[Any, bytes] | None = None

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
                with transaction.atomic(using=self.using):
                    self._begin(lock=True)
                    yield
            else:
                self._begin(lock=False)
                try:
                    yield
                finally:
                    self._flush()
        finally:
            self._depth, self._write = 0, False
            self._reset_buffers()

    def refresh(self) -> None:
        """Write the buffer (it is valid at the old revision) and start over at the newest one."""
        if not self._write:
            self._flush()
        self._reset_buffers()
        self._cached_at = None
        self._begin(lock=self._write)

    def checkpoint(self) -> None:
        """Write the buffered memos now (as the end of the unit of work would), keeping the snapshot."""
        if self._depth and not self._write:
            self._flush()

    def _sql(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on this store's database; return its rows (if any)."""
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def _begin(self, lock: bool) -> None:
        """Read the namespace's revision, epoch and function code versions, in one query."""
        where, param = ("n.id = %s", self._namespace_id) if self._namespace_id else ("n.name = %s", self.namespace)
        suffix = " FOR UPDATE OF n" if lock and connections[self.using].features.has_select_for_update else ""
        rows = self._sql(
            f"SELECT n.id, n.revision, n.epoch, n.deleted_at, c.function, c.code_version FROM {_NAMESPACE} n "
            f"LEFT JOIN {_CODE} c ON c.namespace_id = n.id WHERE {where}{suffix}",
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
        if self._cached_at != (revision, epoch):
            self._reset_cache()
            self._cached_at = (revision, epoch)
        self._codes = {function: code for *_, function, code in rows if function is not None}

    def _create_namespace(self) -> tuple[int, int, int, None]:
        from ..models import Namespace

        try:
            with transaction.atomic(using=self.using):
                ns = Namespace.objects.using(self.using).create(name=self.namespace)
        except IntegrityError:  # another process created it first
            ns = Namespace.objects.using(self.using).get(name=self.namespace)
        return ns.id, ns.revision, ns.epoch, None

    # -- reading rows -------------------------------------------------------------------

    def _row(self, table: str, columns: str, known: dict[str, _Rows], key: Key) -> tuple[Any, ...] | None:
        """The row of ``key`` in ``table``: from a whole-function load once that pays, else by key."""
        function, key_args = key
        digest = key_digest(function, key_args)
        rows = known.setdefault(function, _Rows())
        if rows.by_digest is None and not rows.too_many and rows.asked + 1 >= BULK_AFTER_KEYS:
            self._load_function(table, columns, function, rows)
        rows.asked += 1
        if rows.by_digest is not None:
            return rows.by_digest.get(digest)
        found = self._sql(
            f"SELECT {columns} FROM {table} WHERE namespace_id = %s AND key_digest = %s",
            [self._namespace_id, digest],
        )
        return found[0] if found else None

    def _load_function(self, table: str, columns: str, function: str, rows: _Rows) -> None:
        """Read every row of ``function`` unless there are more than PREFETCH_LIMIT."""
        found = self._sql(
            f"SELECT {columns} FROM {table} WHERE namespace_id = %s AND function = %s LIMIT {PREFETCH_LIMIT + 1}",
            [self._namespace_id, function],
        )
        if len(found) <= PREFETCH_LIMIT:
            rows.by_digest = {row[1]: row for row in found}
        else:
            rows.too_many = True

    def _read_value(self, table: str, record: StoredMemo | StoredInput) -> bytes:
        """Read a large value, checking the row still holds what its metadata described."""
        found = self._sql(f"SELECT value FROM {table} WHERE id = %s AND changed_at = %s",
                          [record.row_id, record.changed_at])
        if not found:  # rewritten or removed by another process since it was read
            raise StaleSnapshot()
        return found[0][0]

    def prefetch(self, key: Key) -> None:
        """Before verifying ``key``: load whole every function its memo read."""
        memo = self._memos.get(key)
        if memo is None:
            return
        for function in {dep[0] for dep in memo.deps}:
            declared = lookup(function)
            if declared is None:
                continue
            table, columns, known = (
                (_INPUT, _INPUT_COLUMNS, self._input_rows) if declared.is_input
                else (_MEMO, _MEMO_COLUMNS, self._memo_rows)
            )
            rows = known.setdefault(function, _Rows())
            if rows.by_digest is None and not rows.too_many:
                self._load_function(table, columns, function, rows)

    # -- memos --------------------------------------------------------------------------

    def get_memo(self, key: Key) -> Memo | None:
        """The memo of ``key`` as of ``revision`` (raises StaleSnapshot if it is newer)."""
        memo = self._memos.get(key, _MISSING)
        if memo is not _MISSING:
            return memo  # type: ignore[return-value]
        rows = self._memo_rows.get(key[0])
        if rows is not None and rows.by_digest is not None:  # the common case, kept short
            row = rows.by_digest.get(key_digest(*key))
        elif key[0] not in self._codes:
            row = None  # the namespace has never stored a memo of this function
        else:
            row = self._row(_MEMO, _MEMO_COLUMNS, self._memo_rows, key)
        memo = None
        if row is not None:
            changed_at, verified_at = row[3], row[4]
            if changed_at > self.revision:
                raise StaleSnapshot()
            # A memo verified after R but unchanged since before R is valid at R too.
            memo = StoredMemo(self, row, min(verified_at, self.revision))
        self._memos[key] = memo
        return memo

    def _encode(self, value: Any) -> bytes:
        """Encode a value once even when both ``same_value`` and ``put_memo`` need it."""
        last = self._last_encoded
        if last is not None and last[0] is value:
            return last[1]
        blob = encode(value)
        self._last_encoded = (value, blob)
        return blob

    def same_value(self, memo: Memo, value: Any) -> bool:
        """Compare digests of the encodings when the old value has not been decoded."""
        if isinstance(memo, StoredMemo) and not memo._loaded:
            try:
                return value_digest(self._encode(value)) == memo.digest
            except TypeError:
                return False  # put_memo reports it
        return super().same_value(memo, value)

    def put_memo(self, key: Key, memo: Memo) -> None:
        """Encode now (so an unstorable value fails the call); write when the unit of work ends."""
        try:
            blob = self._encode(memo.value)
        except TypeError as exc:
            raise TypeError(f"{call_label(key)} returned a value that cannot be stored: {exc}") from None
        self._last_encoded = None
        self._new[key] = (memo, blob, preview(memo.value))
        if self._codes.get(key[0]) != memo.code and not memo.code.startswith(FAILED_PREFIX):
            self._new_codes[key[0]] = memo.code
        self._verified.pop(key, None)
        self._memos[key] = memo

    def mark_verified(self, key: Key, memo: Memo) -> None:
        """Raise the memo to ``revision`` now; its row follows when the unit of work ends."""
        memo.verified_at = self.revision
        if isinstance(memo, StoredMemo):
            self._verified[key] = memo

    def stored_code(self) -> dict[str, str]:
        """Code versions as the namespace recorded them when this unit of work began."""
        return dict(self._codes)

    def record_code(self, codes: dict[str, str]) -> None:
        """Record new code versions and log them (inside the write unit of work that started their revision)."""
        from ..models import RevisionLog

        self._upsert_codes(codes)
        names = ", ".join(sorted(codes))
        RevisionLog.objects.using(self.using).create(
            namespace_id=self._namespace_id,
            revision=self.revision,
            function=names[:300],
            args=f"code changed: {names}",
            action="code",
            process=_PROCESS,
        )

    def _upsert_codes(self, codes: dict[str, str]) -> None:
        now = connections[self.using].ops.adapt_datetimefield_value(timezone.now())
        self._insert(
            _CODE,
            ("namespace_id", "function", "code_version", "updated_at"),
            [(self._namespace_id, function, code, now) for function, code in sorted(codes.items())],
            " ON CONFLICT (namespace_id, function) DO UPDATE SET code_version = excluded.code_version, "
            "updated_at = excluded.updated_at",
        )
        self._codes.update(codes)

    # -- inputs -------------------------------------------------------------------------

    def get_input(self, key: Key) -> InputRecord | None:
        """The input's record as of ``revision`` (raises StaleSnapshot if it changed later)."""
        record = self._inputs.get(key, _MISSING)
        if record is not _MISSING:
            return record  # type: ignore[return-value]
        row = self._row(_INPUT, _INPUT_COLUMNS, self._input_rows, key)
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
        self._sql(f"UPDATE {_NAMESPACE} SET revision = %s WHERE id = %s", [self.revision, self._namespace_id])
        self._cached_at = None  # rows read at the old revision may not hold at the new one
        return self.revision

    def set_input(self, key: Key, record: InputRecord) -> None:
        """Write the input row and its revision-log entry."""
        from ..models import InputValue, RevisionLog

        function, key_args = key
        if record.deleted:
            blob, text = None, ""
        else:
            try:
                blob = encode(record.value)
            except TypeError as exc:
                raise TypeError(f"input {call_label(key)} cannot be stored: {exc}") from None
            text = preview(record.value)
        InputValue.objects.using(self.using).update_or_create(
            namespace_id=self._namespace_id,
            key_digest=key_digest(function, key_args),
            defaults={
                "function": function,
                "args_key": args_text(key_args),
                "value": blob,
                "preview": text,
                "changed_at": record.changed_at,
                "deleted": record.deleted,
            },
        )
        RevisionLog.objects.using(self.using).create(
            namespace_id=self._namespace_id,
            revision=record.changed_at,
            function=function,
            args=call_label(key),
            action="delete" if record.deleted else "set",
            process=_PROCESS,
        )
        self._inputs[key] = record

    # -- writing memos ------------------------------------------------------------------

    def _flush(self) -> None:
        """Write new and re-verified memos in one transaction under the namespace lock."""
        if not self._new and not self._verified:
            return
        with transaction.atomic(using=self.using):
            suffix = " FOR UPDATE" if connections[self.using].features.has_select_for_update else ""
            state = self._sql(f"SELECT deleted_at FROM {_NAMESPACE} WHERE id = %s{suffix}", [self._namespace_id])
            if not state or state[0][0] is not None:
                self._reset_buffers()
                self._cached_at = None
                raise NamespaceDeleted(f"namespace {self.namespace!r} was deleted; its results are not stored")
            if self._new:
                self._write_new()
            if self._new_codes:
                self._upsert_codes(self._new_codes)
            if self._verified:
                self._write_verified()
        self._reset_buffers()

    def _insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], suffix: str = "") -> None:
        """Insert ``rows`` with as few multi-row statements as the parameter limit allows."""
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for chunk in _chunks(rows, MAX_PARAMS // len(columns)):
            self._sql(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(chunk))}{suffix}",
                [value for row in chunk for value in row],
            )

    def _write_new(self) -> None:
        """Insert new memos, overwrite older rows of the same calls, and write their edges.

        A row another process wrote meanwhile, by the same code, at this revision or later is
        left as it is (an equal result, or a newer one).
        """
        revision, ns = self.revision, self._namespace_id
        now = connections[self.using].ops.adapt_datetimefield_value(timezone.now())
        token = f"{_PROCESS}:{uuid.uuid4().hex[:12]}"
        pending = {}
        for key, (memo, blob, text) in self._new.items():
            pending[key_digest(*key)] = (
                ns, key[0], args_text(key[1]), call_label(key), key_digest(*key), blob, value_digest(blob), text,
                pack_deps(memo.deps), memo.changed_at, revision, memo.code, memo.duration, now, token,
            )
        columns = ("namespace_id", "function", "args_key", "label", "key_digest", "value", "value_digest",
                   "preview", "deps", "changed_at", "verified_at", "code_version", "duration", "written_at",
                   "written_by")
        self._insert(_MEMO, columns, list(pending.values()), " ON CONFLICT (namespace_id, key_digest) DO NOTHING")
        written: dict[str, int] = {}
        updates = []
        for chunk in _chunks(list(pending), 5000):
            marks = ", ".join(["%s"] * len(chunk))
            for row_id, digest, verified_at, code, writer in self._sql(
                f"SELECT id, key_digest, verified_at, code_version, written_by FROM {_MEMO} "
                f"WHERE namespace_id = %s AND key_digest IN ({marks})",
                [ns, *chunk],
            ):
                row = pending[digest]
                if writer == token:
                    written[digest] = row_id
                elif verified_at < revision or code != row[11]:
                    written[digest] = row_id
                    updates.append((*row[5:9], row[9], revision, *row[11:], row_id))
        if updates:
            with connections[self.using].cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {_MEMO} SET value = %s, value_digest = %s, preview = %s, deps = %s, changed_at = %s, "
                    "verified_at = %s, code_version = %s, duration = %s, written_at = %s, written_by = %s "
                    "WHERE id = %s",
                    updates,
                )
            for chunk in _chunks([update[-1] for update in updates], 5000):
                self._sql(f"DELETE FROM {_EDGE} WHERE memo_id IN ({', '.join(['%s'] * len(chunk))})", chunk)
        edges = []
        for key, (memo, _, _) in self._new.items():
            row_id = written.get(key_digest(*key))
            if row_id is None:
                continue
            for position, dep in enumerate(memo.deps):
                dep_fn = lookup(dep[0])
                kind = "input" if dep_fn is not None and dep_fn.is_input else "derived"
                edges.append((row_id, ns, position, kind, dep[0], args_text(dep[1]), key_digest(*dep)))
        if edges:
            columns = ("memo_id", "namespace_id", "position", "kind", "function", "args_key", "key_digest")
            self._insert(_EDGE, columns, edges)

    def _write_verified(self) -> None:
        """Raise ``verified_at`` of rows that still hold the verified value (same id and changed_at)."""
        rows = [(memo.row_id, memo.changed_at) for memo in self._verified.values()]
        for chunk in _chunks(rows, (MAX_PARAMS - 2) // 2):
            values = ", ".join(["(%s, %s)"] * len(chunk))
            self._sql(
                f"UPDATE {_MEMO} SET verified_at = %s FROM "
                f"(SELECT column1 AS id, column2 AS changed_at FROM (VALUES {values}) AS pairs) AS v "
                f"WHERE {_MEMO}.id = v.id AND {_MEMO}.changed_at = v.changed_at AND {_MEMO}.verified_at < %s",
                [self.revision, *(value for pair in chunk for value in pair), self.revision],
            )

    # -- inspection ---------------------------------------------------------------------

    def stats(self) -> StoreStats:
        """Row counts of this namespace's tables."""
        from ..models import InputValue, Memo as MemoRow, MemoDependency

        with self.unit_of_work():
            ns = self._namespace_id
            return StoreStats(
                inputs=InputValue.objects.using(self.using).filter(namespace_id=ns).count(),
                memos=MemoRow.objects.using(self.using).filter(namespace_id=ns).count(),
                edges=MemoDependency.objects.using(self.using).filter(namespace_id=ns).count(),
            )
