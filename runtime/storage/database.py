"""The database backend: memos, dependency edges, inputs and revisions in the ``runtime`` app's tables.

A unit of work reads the namespace's revision ``R`` once, then loads rows by function in
bulk (metadata only; values are read when the engine first touches them) and buffers every
new or re-verified memo.  When the outermost unit of work ends it writes the buffer in one
transaction under the namespace's row lock, with bulk statements.  Other processes may move
the namespace on meanwhile; a read that shows a change after ``R`` raises ``StaleSnapshot``
and the engine restarts the call at the newer revision, and a write never overwrites a memo
that another process verified at a later revision.  So results are always consistent with
one revision, and no memo is marked verified at a revision whose inputs it did not see.

Values are encoded by ``runtime.storage.codec`` (never pickled); a value it cannot encode
is a ``TypeError`` naming the call and the type.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Hashable

from django.db import IntegrityError, connections, transaction
from django.db.models import Case, F, When
from django.db.models.functions import Length
from django.utils import timezone

from ..keys import call_label
from ..registry import lookup
from .base import InputRecord, Key, Memo, StaleSnapshot, Storage, StoreStats
from .codec import decode, encode, preview, register_codec

__all__ = ["DatabaseStorage", "NamespaceDeleted", "register_codec", "key_digest", "args_text", "parse_args_text"]

#: Functions with more memo rows than this are read row by row instead of loaded whole.
PREFETCH_LIMIT = 5000
#: A function's rows are read one by one for its first keys in a unit of work, and all at
#: once (up to PREFETCH_LIMIT) from this many distinct keys on, or when verification
#: is about to walk them.
BULK_AFTER_KEYS = 2
#: Values up to this many bytes come with the rows that a bulk load reads; larger ones
#: are read when first used.
INLINE_VALUE_BYTES = 8192
#: Largest IN list or executemany batch sent in one statement.
CHUNK = 5000
_MISSING = object()
_PROCESS = f"{socket.gethostname()}:{os.getpid()}"


class NamespaceDeleted(Exception):
    """The namespace was marked deleted (for garbage collection) and cannot be used."""


def args_text(key_args: tuple[Hashable, ...]) -> str:
    """Canonical text of normalized arguments (``repr`` is exact for the types keys allow)."""
    return repr(key_args)


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


def _inline_value() -> Case:
    """The value column where it is small enough to read along with a bulk load, else NULL."""
    return Case(When(value_size__lte=INLINE_VALUE_BYTES, then=F("value")), default=None)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class StoredMemo(Memo):
    """A memo read from the table: its value is read and decoded on first use."""

    __slots__ = ("row_id", "digest", "_storage", "_loaded")

    def __init__(self, storage: DatabaseStorage, row_id: int, digest: str, changed_at: int, verified_at: int,
                 deps: tuple[Key, ...], code: str, duration: float, blob: bytes | None) -> None:
        super().__init__(None if blob is None else decode(blob), changed_at, verified_at, deps, code, duration)
        self.row_id = row_id
        self.digest = digest
        self._storage = storage
        self._loaded = blob is not None

    @property  # type: ignore[override]
    def value(self) -> Any:
        """The decoded value, read once from the table."""
        if not self._loaded:
            Memo.value.__set__(self, self._storage._read_memo_value(self))  # type: ignore[attr-defined]
            self._loaded = True
        return Memo.value.__get__(self)  # type: ignore[attr-defined]

    @value.setter
    def value(self, new: Any) -> None:
        Memo.value.__set__(self, new)  # type: ignore[attr-defined]


class StoredInput(InputRecord):
    """An input row: its value is read and decoded on first use."""

    __slots__ = ("row_id", "_storage", "_loaded")

    def __init__(self, storage: DatabaseStorage, row_id: int, changed_at: int, deleted: bool,
                 blob: bytes | None) -> None:
        object.__setattr__(self, "row_id", row_id)
        object.__setattr__(self, "_storage", storage)
        object.__setattr__(self, "_loaded", deleted or blob is not None)
        InputRecord.__init__(self, None if blob is None else decode(blob), changed_at, deleted)

    @property  # type: ignore[override]
    def value(self) -> Any:
        """The decoded value, read once from the table."""
        if not self._loaded:
            InputRecord.value.__set__(self, self._storage._read_input_value(self))  # type: ignore[attr-defined]
            object.__setattr__(self, "_loaded", True)
        return InputRecord.value.__get__(self)  # type: ignore[attr-defined]

    @value.setter
    def value(self, new: Any) -> None:
        InputRecord.value.__set__(self, new)  # type: ignore[attr-defined]


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
        """Forget every row read; kept across units of work while (revision, epoch) stays the same."""
        self._memos: dict[Key, Memo | None] = {}
        self._memo_rows: dict[str, dict[str, tuple[Any, ...]] | None] = {}
        self._inputs: dict[Key, InputRecord | None] = {}
        self._input_rows: dict[str, dict[str, tuple[Any, ...]] | None] = {}
        self._memo_misses: dict[str, int] = {}
        self._input_misses: dict[str, int] = {}

    def _reset_buffers(self) -> None:
        self._new: dict[Key, tuple[Memo, bytes, str]] = {}
        self._verified: dict[Key, StoredMemo] = {}
        self._last_encoded: tuple[Any, bytes] | None = None

    @contextmanager
    def unit_of_work(self, write: bool = False) -> Iterator[None]:
        """Load lazily, write at the end; a write unit of work holds the namespace lock."""
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
        write = self._write
        if not write:
            self._flush()
        self._reset_buffers()
        self._cached_at = None
        self._begin(lock=write)

    def _begin(self, lock: bool) -> None:
        """Read the namespace's revision (creating the namespace on first use)."""
        from ..models import Namespace

        rows = Namespace.objects.using(self.using)
        if lock:
            rows = rows.select_for_update()
        fields = ("id", "revision", "epoch", "deleted_at")
        if self._namespace_id is None:
            row = rows.filter(name=self.namespace).values_list(*fields).first()
            if row is None:
                row = self._create_namespace()
        else:
            row = rows.filter(id=self._namespace_id).values_list(*fields).first()
            if row is None:
                self._namespace_id = None
                raise NamespaceDeleted(f"namespace {self.namespace!r} was removed")
        if row[3] is not None:
            raise NamespaceDeleted(f"namespace {self.namespace!r} is marked deleted")
        self._namespace_id, self.revision = row[0], row[1]
        if self._cached_at != (row[1], row[2]):
            self._reset_cache()
            self._cached_at = (row[1], row[2])

    def _create_namespace(self) -> tuple[int, int, int, None]:
        from ..models import Namespace

        try:
            with transaction.atomic(using=self.using):
                ns = Namespace.objects.using(self.using).create(name=self.namespace)
        except IntegrityError:  # another process created it first
            ns = Namespace.objects.using(self.using).get(name=self.namespace)
        return ns.id, ns.revision, ns.epoch, None

    # -- memos --------------------------------------------------------------------------

    def get_memo(self, key: Key) -> Memo | None:
        """The memo of ``key`` as of ``revision`` (raises StaleSnapshot if it is newer)."""
        memo = self._memos.get(key, _MISSING)
        if memo is not _MISSING:
            return memo  # type: ignore[return-value]
        function, key_args = key
        digest = key_digest(function, key_args)
        rows = self._memo_rows.get(function, _MISSING)
        if rows is _MISSING and self._wants_bulk(self._memo_misses, function):
            rows = self._load_memo_rows(function)
        row = rows.get(digest) if isinstance(rows, dict) else self._load_memo_row(digest)
        memo = None if row is None else self._memo_from_row(row)
        self._memos[key] = memo
        return memo

    @staticmethod
    def _wants_bulk(misses: dict[str, int], function: str) -> bool:
        """Count a key read of ``function``; true once enough distinct keys were read one by one."""
        misses[function] = misses.get(function, 0) + 1
        return misses[function] >= BULK_AFTER_KEYS

    def prefetch(self, key: Key) -> None:
        """Before verifying ``key``: load whole every function that its memo read."""
        memo = self._memos.get(key)
        if memo is None:
            return
        for function in {dep[0] for dep in memo.deps}:
            declared = lookup(function)
            if declared is None:
                continue
            if declared.is_input:
                if function not in self._input_rows:
                    self._load_input_rows(function)
            elif function not in self._memo_rows:
                self._load_memo_rows(function)

    def _memo_from_row(self, row: tuple[Any, ...]) -> StoredMemo:
        row_id, digest, changed_at, verified_at, code, duration, blob, deps = row
        if changed_at > self.revision:
            raise StaleSnapshot()
        # A memo verified later than R but unchanged since before R is valid at R too.
        verified = min(verified_at, self.revision)
        return StoredMemo(self, row_id, digest, changed_at, verified, deps, code, duration, blob)

    def _load_memo_rows(self, function: str) -> dict[str, tuple[Any, ...]] | None:
        """Load every memo row of ``function`` (metadata and edges), or None if there are too many."""
        from ..models import Memo as MemoRow, MemoDependency

        rows = list(
            MemoRow.objects.using(self.using)
            .filter(namespace_id=self._namespace_id, function=function)
            .annotate(value_size=Length("value"), inline=_inline_value())
            .values_list(
                "id", "key_digest", "value_digest", "changed_at", "verified_at", "code_version", "duration", "inline"
            )[: PREFETCH_LIMIT + 1]
        )
        if len(rows) > PREFETCH_LIMIT:
            self._memo_rows[function] = None
            return None
        deps: dict[int, list[Key]] = {}
        if rows:
            # By memo id: filtering on the joined memo's function made the database scan every
            # edge of the namespace, so one function's load grew with all the others' edges.
            for chunk in _chunks([row[0] for row in rows]):
                edges = (
                    MemoDependency.objects.using(self.using)
                    .filter(memo_id__in=chunk)
                    .order_by("memo_id", "position")
                    .values_list("memo_id", "function", "args_key")
                )
                for memo_id, dep_function, dep_args in edges:
                    deps.setdefault(memo_id, []).append((dep_function, parse_args_text(dep_args)))
        loaded = {
            digest: (row_id, value_hash, changed, verified, code, duration, blob, tuple(deps.get(row_id, ())))
            for row_id, digest, value_hash, changed, verified, code, duration, blob in rows
        }
        self._memo_rows[function] = loaded
        return loaded

    def _load_memo_row(self, digest: str) -> tuple[Any, ...] | None:
        """Load one memo row and its edges (for functions too large to load whole)."""
        from ..models import Memo as MemoRow, MemoDependency

        row = (
            MemoRow.objects.using(self.using)
            .filter(namespace_id=self._namespace_id, key_digest=digest)
            .annotate(value_size=Length("value"), inline=_inline_value())
            .values_list("id", "value_digest", "changed_at", "verified_at", "code_version", "duration", "inline")
            .first()
        )
        if row is None:
            return None
        edges = (
            MemoDependency.objects.using(self.using)
            .filter(memo_id=row[0])
            .order_by("position")
            .values_list("function", "args_key")
        )
        return (*row, tuple((f, parse_args_text(a)) for f, a in edges))

    def _read_memo_value(self, memo: StoredMemo) -> Any:
        """Read a memo's value, checking the row still holds the value the metadata described."""
        from ..models import Memo as MemoRow

        blob = (
            MemoRow.objects.using(self.using)
            .filter(id=memo.row_id, changed_at=memo.changed_at)
            .values_list("value", flat=True)
            .first()
        )
        if blob is None:  # rewritten or removed by another process since we read it
            raise StaleSnapshot()
        return decode(blob)

    def _encode(self, value: Any) -> bytes:
        """Encode a value once even when both ``same_value`` and ``put_memo`` need it."""
        last = self._last_encoded
        if last is not None and last[0] is value:
            return last[1]
        blob = encode(value)
        self._last_encoded = (value, blob)
        return blob

    def same_value(self, memo: Memo, value: Any) -> bool:
        """Compare digests of the encodings when the old value has not been read."""
        if isinstance(memo, StoredMemo) and not memo._loaded:
            try:
                return value_digest(self._encode(value)) == memo.digest
            except TypeError:
                return False  # put_memo reports it
        return super().same_value(memo, value)

    def put_memo(self, key: Key, memo: Memo) -> None:
        """Encode now (so an unstorable value fails the call), write at the end of the unit of work."""
        try:
            blob = self._encode(memo.value)
        except TypeError as exc:
            raise TypeError(f"{call_label(key)} returned a value that cannot be stored: {exc}") from None
        self._last_encoded = None
        self._new[key] = (memo, blob, preview(memo.value))
        self._verified.pop(key, None)
        self._memos[key] = memo

    def mark_verified(self, key: Key, memo: Memo) -> None:
        """Remember to raise the row's ``verified_at`` to ``revision`` when the unit of work ends."""
        memo.verified_at = self.revision
        if isinstance(memo, StoredMemo):
            self._verified[key] = memo

    # -- inputs -------------------------------------------------------------------------

    def get_input(self, key: Key) -> InputRecord | None:
        """The input's record as of ``revision`` (raises StaleSnapshot if it changed later)."""
        record = self._inputs.get(key, _MISSING)
        if record is not _MISSING:
            return record  # type: ignore[return-value]
        function, key_args = key
        digest = key_digest(function, key_args)
        rows = self._input_rows.get(function, _MISSING)
        if rows is _MISSING and self._wants_bulk(self._input_misses, function):
            rows = self._load_input_rows(function)
        row = rows.get(digest) if isinstance(rows, dict) else self._load_input_row(digest)
        record = None
        if row is not None:
            row_id, changed_at, deleted, blob = row
            if changed_at > self.revision:
                raise StaleSnapshot()
            record = StoredInput(self, row_id, changed_at, deleted, blob)
        self._inputs[key] = record
        return record

    def _load_input_rows(self, function: str) -> dict[str, tuple[Any, ...]] | None:
        from ..models import InputValue

        rows = list(
            InputValue.objects.using(self.using)
            .filter(namespace_id=self._namespace_id, function=function)
            .annotate(value_size=Length("value"), inline=_inline_value())
            .values_list("key_digest", "id", "changed_at", "deleted", "inline")[: PREFETCH_LIMIT + 1]
        )
        loaded = None if len(rows) > PREFETCH_LIMIT else {digest: rest for digest, *rest in rows}
        self._input_rows[function] = loaded
        return loaded

    def _load_input_row(self, digest: str) -> tuple[Any, ...] | None:
        from ..models import InputValue

        return (
            InputValue.objects.using(self.using)
            .filter(namespace_id=self._namespace_id, key_digest=digest)
            .annotate(value_size=Length("value"), inline=_inline_value())
            .values_list("id", "changed_at", "deleted", "inline")
            .first()
        )

    def _read_input_value(self, record: StoredInput) -> Any:
        from ..models import InputValue

        blob = (
            InputValue.objects.using(self.using)
            .filter(id=record.row_id, changed_at=record.changed_at)
            .values_list("value", flat=True)
            .first()
        )
        if blob is None:
            raise StaleSnapshot()
        return decode(blob)

    def new_revision(self, changed: Key) -> int:
        """Bump the namespace's revision (inside the write unit of work's transaction)."""
        from ..models import Namespace

        self.revision += 1
        Namespace.objects.using(self.using).filter(id=self._namespace_id).update(revision=self.revision)
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
        from ..models import Namespace

        with transaction.atomic(using=self.using):
            # The row lock serializes flushes, input changes and garbage collection.
            namespace = (
                Namespace.objects.using(self.using)
                .select_for_update()
                .filter(id=self._namespace_id)
                .values_list("deleted_at", flat=True)
            )
            state = list(namespace)
            if not state or state[0] is not None:
                self._new.clear()
                self._verified.clear()
                raise NamespaceDeleted(f"namespace {self.namespace!r} was deleted; its results are not stored")
            if self._new:
                self._write_new()
            if self._verified:
                self._write_verified()
        self._new.clear()
        self._verified.clear()

    def _write_new(self) -> None:
        """Insert new memos, overwrite older rows of the same calls, and write their edges.

        Rows another process wrote meanwhile, by the same code at this revision or later,
        are left as they are (an equal result, or a newer one).
        """
        from ..models import Memo as MemoRow, MemoDependency

        revision, ns = self.revision, self._namespace_id
        ops = connections[self.using].ops
        now = ops.adapt_datetimefield_value(timezone.now())
        token = f"{_PROCESS}:{uuid.uuid4().hex[:12]}"
        rows = {
            key_digest(*key): (key, memo, blob, text, value_digest(blob))
            for key, (memo, blob, text) in self._new.items()
        }
        table = MemoRow._meta.db_table
        columns = (
            "namespace_id, function, args_key, label, key_digest, value, value_digest, preview, "
            "changed_at, verified_at, code_version, duration, written_at, written_by"
        )
        with connections[self.using].cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * 14)}) "
                "ON CONFLICT (namespace_id, key_digest) DO NOTHING",
                [
                    (ns, key[0], args_text(key[1]), call_label(key), digest, blob, vdigest, text,
                     memo.changed_at, revision, memo.code, memo.duration, now, token)
                    for digest, (key, memo, blob, text, vdigest) in rows.items()
                ],
            )
        written: dict[str, int] = {}
        updates: list[tuple[Any, ...]] = []
        for chunk in _chunks(list(rows)):
            for row_id, digest, verified_at, code, writer in (
                MemoRow.objects.using(self.using)
                .filter(namespace_id=ns, key_digest__in=chunk)
                .values_list("id", "key_digest", "verified_at", "code_version", "written_by")
            ):
                key, memo, blob, text, vdigest = rows[digest]
                if writer == token:
                    written[digest] = row_id
                elif verified_at < revision or code != memo.code:
                    written[digest] = row_id
                    updates.append((blob, vdigest, text, memo.changed_at, revision, memo.code, memo.duration,
                                    now, token, row_id))
        if updates:
            with connections[self.using].cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {table} SET value = %s, value_digest = %s, preview = %s, changed_at = %s, "
                    "verified_at = %s, code_version = %s, duration = %s, written_at = %s, written_by = %s "
                    "WHERE id = %s",
                    updates,
                )
            for chunk in _chunks([update[-1] for update in updates]):
                MemoDependency.objects.using(self.using).filter(memo_id__in=chunk).delete()
        edges = []
        for digest, row_id in written.items():
            for position, dep in enumerate(rows[digest][1].deps):
                dep_fn = lookup(dep[0])
                kind = "input" if dep_fn is not None and dep_fn.is_input else "derived"
                edges.append((row_id, ns, position, kind, dep[0], args_text(dep[1]), key_digest(*dep)))
        if edges:
            with connections[self.using].cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {MemoDependency._meta.db_table} "
                    "(memo_id, namespace_id, position, kind, function, args_key, key_digest) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    edges,
                )

    def _write_verified(self) -> None:
        from ..models import Memo as MemoRow

        # Only rows still holding the value we verified (same id and changed_at) and not
        # already verified later are raised: a row another process rewrote is left alone.
        with connections[self.using].cursor() as cursor:
            cursor.executemany(
                f"UPDATE {MemoRow._meta.db_table} SET verified_at = %s "
                "WHERE id = %s AND changed_at = %s AND verified_at < %s",
                [(self.revision, m.row_id, m.changed_at, self.revision) for m in self._verified.values()],
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
