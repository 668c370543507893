"""The writes: memos buffered in a unit of work and written in bulk, code versions, input rows.

New and re-verified memos are buffered (encoded at once, so an unstorable value fails the
call: a ``TypeError`` naming the call and the type) and written when the outermost unit of
work ends, in one transaction under the namespace's row lock, with multi-row statements; a
re-verification writes only a narrow ``Verification`` row.  Other processes may have written
meanwhile: a write never overwrites a row that another process wrote, by the same code, at the
unit of work's revision R or later, and a memo is marked verified only if its row still holds
the value that was verified.  So no memo is verified at a revision it did not see.  Input rows
and code versions are written, each with its revision-log entry, inside the write unit of work
that started their revision.
"""
from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from runtime.function import REGISTRY
from runtime.keys import Key, call_label
from runtime.memo import FAILED_PREFIX, InputRecord, Memo

from .codec import encode, preview
from .records import StoredMemo
from .rows import args_text, key_digest, pack_deps, value_digest
from .sql import CODE, EDGE, MAX_PARAMS, MEMO, MEMOS, NAMESPACE, VERIFICATION, Database, chunks

__all__ = ["PROCESS", "MemoWriter", "record_code", "upsert_codes", "write_input"]

#: Who writes: recorded with each memo row and revision-log entry.
PROCESS = f"{socket.gethostname()}:{os.getpid()}"
_MEMO_COLUMNS = ("namespace_id", "function", "args_key", "label", "key_digest", "value", "value_digest", "preview",
                 "deps", "changed_at", "executed_at", "code_version", "duration", "written_at", "written_by")
_EDGE_COLUMNS = ("memo_id", "namespace_id", "position", "kind", "function", "args_key", "key_digest")


def upsert_codes(db: Database, namespace_id: int, codes: dict[str, str], known: dict[str, str]) -> None:
    """Record ``codes`` as the namespace's code versions of their functions, and in ``known``."""
    now = db.now()
    db.insert(
        CODE,
        ("namespace_id", "function", "code_version", "updated_at"),
        [(namespace_id, function, code, now) for function, code in sorted(codes.items())],
        " ON CONFLICT (namespace_id, function) DO UPDATE SET code_version = excluded.code_version, "
        "updated_at = excluded.updated_at",
    )
    known.update(codes)


def record_code(db: Database, namespace_id: int, revision: int, codes: dict[str, str], known: dict[str, str]) -> None:
    """Record new code versions and log them at ``revision`` (which their change started)."""
    from .models import RevisionLog

    upsert_codes(db, namespace_id, codes, known)
    names = ", ".join(sorted(codes))
    RevisionLog.objects.using(db.using).create(
        namespace_id=namespace_id,
        revision=revision,
        function=names[:300],
        args=f"code changed: {names}",
        action="code",
        process=PROCESS,
    )


def write_input(db: Database, namespace_id: int, key: Key, record: InputRecord) -> None:
    """Write the input row and its revision-log entry."""
    from .models import InputValue, RevisionLog

    function, key_args = key
    if record.deleted:
        blob, text = None, ""
    else:
        try:
            blob = encode(record.value)
        except TypeError as exc:
            raise TypeError(f"input {call_label(key)} cannot be stored: {exc}") from None
        text = preview(record.value)
    InputValue.objects.using(db.using).update_or_create(
        namespace_id=namespace_id,
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
    RevisionLog.objects.using(db.using).create(
        namespace_id=namespace_id,
        revision=record.changed_at,
        function=function,
        args=call_label(key),
        action="delete" if record.deleted else "set",
        process=PROCESS,
    )


class MemoWriter:
    """The memos a unit of work computed (``new``) or re-verified (``verified``), until they are written.

    ``new_codes`` are the code versions of new memos that the namespace has not recorded yet.
    """

    __slots__ = ("db", "new", "new_codes", "verified", "_last_encoded")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.new: dict[Key, tuple[Memo, bytes, str]] = {}
        self.new_codes: dict[str, str] = {}
        self.verified: dict[Key, StoredMemo] = {}
        self._last_encoded: tuple[Any, bytes] | None = None

    @property
    def pending(self) -> bool:
        """Whether anything is buffered."""
        return bool(self.new or self.verified)

    def clear(self) -> None:
        """Drop the buffers (after writing them, or when they cannot be written)."""
        self.new, self.new_codes, self.verified = {}, {}, {}
        self._last_encoded = None

    def encode(self, value: Any) -> bytes:
        """Encode a value once even when both ``same_value`` and ``put_memo`` need it."""
        last = self._last_encoded
        if last is not None and last[0] is value:
            return last[1]
        blob = encode(value)
        self._last_encoded = (value, blob)
        return blob

    def add(self, key: Key, memo: Memo, codes: dict[str, str]) -> None:
        """Buffer ``memo``, encoded now; ``codes`` are the code versions the namespace recorded."""
        try:
            blob = self.encode(memo.value)
        except TypeError as exc:
            raise TypeError(f"{call_label(key)} returned a value that cannot be stored: {exc}") from None
        self._last_encoded = None
        self.new[key] = (memo, blob, preview(memo.value))
        if codes.get(key[0]) != memo.code and not memo.code.startswith(FAILED_PREFIX):
            self.new_codes[key[0]] = memo.code
        self.verified.pop(key, None)

    def lock_namespace(self, namespace_id: int) -> bool:
        """Take the namespace's row lock (inside the flush's transaction); False if it was deleted."""
        state = self.db.run(f"SELECT deleted_at FROM {NAMESPACE} WHERE id = %s{self.db.for_update()}", [namespace_id])
        return bool(state) and state[0][0] is None

    def write(self, namespace_id: int, revision: int, codes: dict[str, str]) -> list[tuple[Key, Memo, int | None, str]]:
        """Write the buffers at ``revision`` (inside the flush's transaction, under the namespace lock).

        Returns, for each new memo, its row id (None if another process's row was kept) and value digest.
        """
        written = self._write_new(namespace_id, revision) if self.new else []
        if self.new_codes:
            upsert_codes(self.db, namespace_id, self.new_codes, codes)
        if self.verified:
            self._write_verified(revision)
        return written

    def _write_new(self, ns: int, revision: int) -> list[tuple[Key, Memo, int | None, str]]:
        """Insert new memos, overwrite older rows of the same calls, and write their edges.

        A row another process wrote meanwhile, by the same code, at this revision or later is
        left as it is (an equal result, or a newer one).  An overwritten row loses its edges and
        its verification (it is verified at its execution now).
        """
        db, now = self.db, self.db.now()
        token = f"{PROCESS}:{uuid.uuid4().hex[:12]}"
        pending = {}
        for key, (memo, blob, text) in self.new.items():
            pending[key_digest(*key)] = (
                ns, key[0], args_text(key[1]), call_label(key), key_digest(*key), blob, value_digest(blob), text,
                pack_deps(memo.deps), memo.changed_at, revision, memo.code, memo.duration, now, token,
            )
        db.insert(MEMO, _MEMO_COLUMNS, list(pending.values()), " ON CONFLICT (namespace_id, key_digest) DO NOTHING")
        written: dict[str, int] = {}
        updates = []
        for chunk in chunks(list(pending), 5000):
            marks = ", ".join(["%s"] * len(chunk))
            for row_id, digest, verified_at, code, writer in db.run(
                f"SELECT m.id, m.key_digest, COALESCE(v.verified_at, m.executed_at), m.code_version, m.written_by "
                f"FROM {MEMOS.source} WHERE m.namespace_id = %s AND m.key_digest IN ({marks})",
                [ns, *chunk],
            ):
                row = pending[digest]
                if writer == token:
                    written[digest] = row_id
                elif verified_at < revision or code != row[11]:
                    written[digest] = row_id
                    updates.append((*row[5:9], row[9], revision, *row[11:], row_id))
        if updates:
            db.run_many(
                f"UPDATE {MEMO} SET value = %s, value_digest = %s, preview = %s, deps = %s, changed_at = %s, "
                "executed_at = %s, code_version = %s, duration = %s, written_at = %s, written_by = %s "
                "WHERE id = %s",
                updates,
            )
            for chunk in chunks([update[-1] for update in updates], 5000):
                marks = ", ".join(["%s"] * len(chunk))
                db.run(f"DELETE FROM {EDGE} WHERE memo_id IN ({marks})", chunk)
                db.run(f"DELETE FROM {VERIFICATION} WHERE memo_id IN ({marks})", chunk)
        edges = []
        for key, (memo, _, _) in self.new.items():
            row_id = written.get(key_digest(*key))
            if row_id is None:
                continue
            for position, dep in enumerate(memo.deps):
                dep_fn = REGISTRY.lookup(dep[0])
                kind = "input" if dep_fn is not None and dep_fn.is_input else "derived"
                edges.append((row_id, ns, position, kind, dep[0], args_text(dep[1]), key_digest(*dep)))
        if edges:
            db.insert(EDGE, _EDGE_COLUMNS, edges)
        results = []
        for key, (memo, _, _) in self.new.items():
            digest = key_digest(*key)
            results.append((key, memo, written.get(digest), pending[digest][6]))  # [6]: the value digest
        return results

    def _write_verified(self, revision: int) -> None:
        """Record re-verification at ``revision`` of the rows that still hold the verified value.

        Only rows with the same id and ``changed_at`` as read, executed before ``revision``, and
        not verified at it or later already: a row rewritten meanwhile keeps what its writer saw.
        """
        rows = [(memo.row_id, memo.changed_at) for memo in self.verified.values()]
        for chunk in chunks(rows, (MAX_PARAMS - 2) // 2):
            values = ", ".join(["(%s, %s)"] * len(chunk))
            self.db.run(
                f"INSERT INTO {VERIFICATION} (memo_id, verified_at) SELECT m.id, %s FROM {MEMO} m "
                f"JOIN (SELECT column1 AS id, column2 AS changed_at FROM (VALUES {values}) AS pairs) AS v "
                f"ON m.id = v.id AND m.changed_at = v.changed_at WHERE m.executed_at < %s "
                f"ON CONFLICT (memo_id) DO UPDATE SET verified_at = excluded.verified_at "
                f"WHERE {VERIFICATION}.verified_at < excluded.verified_at",
                [revision, *(value for pair in chunk for value in pair), revision],
            )
