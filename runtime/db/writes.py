"""The writes: memos buffered in a unit of work and written in bulk, code versions, input rows.

New and re-verified memos are buffered (encoded at once, so an unstorable value fails the
call: a ``TypeError`` naming the call and the type) and written when the outermost unit of
work ends, in one transaction under the namespace's row lock, with multi-row statements; a
re-verification writes only a narrow ``Verification`` row.  Other processes may have written
meanwhile: a write never overwrites a row that another process wrote, by the same code, at the
unit of work's revision R or later, and a memo is marked verified only if its row still holds
the value that was verified.  So no memo is verified at a revision it did not see.  Input rows
and code versions are written, each with its revision-log entry, inside the write unit of work
that started their revision; an input version that a maintained memo's edge names is copied to
``InputVersion`` before it is overwritten.

A maintained memo is written with its derived dependencies packed (and as edges) and its input
dependencies as edges with the version read (``read_at``).  Carried over from the row it was
read from (``StoredInputDeps`` bound to that row's flush token), only the edges its executions
saw since are upserted, and only while the row still holds that write (else another process's
row is kept).  A memo whose reads name a version that is no longer stored (overwritten after R
before any edge named it) is not written: it is recomputed instead.
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
from .records import StoredInputDeps, StoredMemo
from .rows import args_text, key_digest, pack_deps, value_digest
from .sql import CODE, EDGE, INPUT, LOG, MAX_PARAMS, MEMO, MEMOS, NAMESPACE, VERIFICATION, VERSION, Database, chunks

__all__ = ["PROCESS", "MemoWriter", "record_code", "upsert_codes", "write_input"]

#: Who writes: recorded with each memo row and revision-log entry.
PROCESS = f"{socket.gethostname()}:{os.getpid()}"
_MEMO_COLUMNS = ("namespace_id", "function", "args_key", "label", "key_digest", "value", "value_digest", "preview",
                 "deps", "changed_at", "executed_at", "code_version", "duration", "written_at", "written_by",
                 "maintained", "input_count")
_EDGE_COLUMNS = ("memo_id", "namespace_id", "position", "kind", "function", "args_key", "key_digest", "read_at")
#: Edges are upserted: a maintained memo's carried-over input edges get the version read now.
_EDGE_UPSERT = " ON CONFLICT (memo_id, key_digest) DO UPDATE SET read_at = excluded.read_at"


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
    """Write the input row and its revision-log entry, first archiving the version a maintained memo read.

    Three statements, so that a transaction of many writes stays cheap.
    """
    function, key_args = key
    if record.deleted:
        blob, text = None, ""
    else:
        try:
            blob = encode(record.value)
        except TypeError as exc:
            raise TypeError(f"input {call_label(key)} cannot be stored: {exc}") from None
        text = preview(record.value)
    digest, now = key_digest(function, key_args), db.now()
    db.run(
        f"INSERT INTO {VERSION} (namespace_id, function, args_key, key_digest, changed_at, value, deleted, "
        "archived_at) SELECT i.namespace_id, i.function, i.args_key, i.key_digest, i.changed_at, i.value, "
        f"i.deleted, %s FROM {INPUT} i WHERE i.namespace_id = %s AND i.key_digest = %s AND EXISTS (SELECT 1 FROM {EDGE} e "
        "WHERE e.namespace_id = i.namespace_id AND e.key_digest = i.key_digest AND e.read_at = i.changed_at) "
        "ON CONFLICT DO NOTHING",
        [now, namespace_id, digest],
    )
    db.insert(
        INPUT,
        ("namespace_id", "function", "args_key", "key_digest", "value", "preview", "changed_at", "deleted",
         "updated_at"),
        [(namespace_id, function, args_text(key_args), digest, blob, text, record.changed_at, record.deleted, now)],
        " ON CONFLICT (namespace_id, key_digest) DO UPDATE SET value = excluded.value, preview = excluded.preview, "
        "changed_at = excluded.changed_at, deleted = excluded.deleted, updated_at = excluded.updated_at",
    )
    db.insert(
        LOG,
        ("namespace_id", "revision", "function", "args", "action", "process", "created_at"),
        [(namespace_id, record.changed_at, function, call_label(key), "delete" if record.deleted else "set", PROCESS,
          now)],
    )


def _edges(ns: int, row_id: int, memo: Memo, carried: bool) -> list[tuple[Any, ...]]:
    """The edge rows to write for ``memo`` as row ``row_id``: all of them, or a carried-over one's changes.

    A maintained memo's derived edges are numbered apart from its input edges, which keep their
    first-read positions and carry the version read (``read_at``; None when there was none).
    """
    lookup = REGISTRY.lookup
    edges = []
    for position, dep in enumerate(memo.deps):
        dep_fn = lookup(dep[0])
        kind = "input" if dep_fn is not None and dep_fn.is_input else "derived"
        edges.append((row_id, ns, position, kind, dep[0], args_text(dep[1]), key_digest(*dep), None))
    inputs = memo.inputs
    if inputs is not None:
        entries = inputs.pending.items() if carried else inputs.entries()  # type: ignore[attr-defined]
        for dep, (position, record) in entries:
            read_at = None if record is None else record.changed_at
            edges.append((row_id, ns, position, "input", dep[0], args_text(dep[1]), key_digest(*dep), read_at))
    return edges


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

    def lock_namespace(self, namespace_id: int) -> int | None:
        """Take the namespace's row lock (inside the flush's transaction); its revision, None if it was deleted."""
        state = self.db.run(
            f"SELECT deleted_at, revision FROM {NAMESPACE} WHERE id = %s{self.db.for_update()}", [namespace_id]
        )
        return state[0][1] if state and state[0][0] is None else None

    def write(
        self, namespace_id: int, revision: int, current: int, codes: dict[str, str]
    ) -> tuple[str, list[tuple[Key, Memo, int | None, str]]]:
        """Write the buffers at ``revision`` (inside the flush's transaction, under the namespace lock).

        ``current`` is the namespace's revision now.  Returns the flush's token, and for each new
        memo its row id (None if it was not written: another process's row was kept) and value digest.
        """
        token = f"{PROCESS}:{uuid.uuid4().hex[:12]}"
        written = self._write_new(namespace_id, revision, current, token) if self.new else []
        if self.new_codes:
            upsert_codes(self.db, namespace_id, self.new_codes, codes)
        if self.verified:
            self._write_verified(revision)
        return token, written

    def _write_new(self, ns: int, revision: int, current: int, token: str) -> list[tuple[Key, Memo, int | None, str]]:
        """Insert new memos, overwrite older rows of the same calls, and write their edges.

        A row another process wrote meanwhile, by the same code, at this revision or later is
        left as it is (an equal result, or a newer one), and so is a row that no longer holds the
        write a maintained memo's carried-over edges belong to.  An overwritten row loses its
        verification and its edges, except a carried-over memo's input edges, which are upserted.
        """
        db, now = self.db, self.db.now()
        skipped = self._unstored_reads(ns) if current > revision else set()
        pending, carried, value_digests = {}, {}, {}
        for key, (memo, blob, text) in self.new.items():
            digest = key_digest(*key)
            value_digests[digest] = value_digest(blob)
            if key in skipped:
                continue
            inputs = memo.inputs
            if isinstance(inputs, StoredInputDeps) and inputs.row_id is not None:
                carried[digest] = inputs.token
            pending[digest] = (
                ns, key[0], args_text(key[1]), call_label(key), digest, blob, value_digests[digest], text,
                pack_deps(memo.deps), memo.changed_at, revision, memo.code, memo.duration, now, token,
                inputs is not None, 0 if inputs is None else len(inputs),
            )
        # A carried-over memo is written only over the row its edges belong to, never inserted.
        db.insert(MEMO, _MEMO_COLUMNS, [row for digest, row in pending.items() if digest not in carried],
                  " ON CONFLICT (namespace_id, key_digest) DO NOTHING")
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
                elif digest in carried and writer != carried[digest]:
                    continue
                elif verified_at < revision or code != row[11]:
                    written[digest] = row_id
                    updates.append((*row[5:9], row[9], revision, *row[11:], row_id))
        if updates:
            db.run_many(
                f"UPDATE {MEMO} SET value = %s, value_digest = %s, preview = %s, deps = %s, changed_at = %s, "
                "executed_at = %s, code_version = %s, duration = %s, written_at = %s, written_by = %s, "
                "maintained = %s, input_count = %s WHERE id = %s",
                updates,
            )
            ids = [update[-1] for update in updates]
            kept = {written[digest] for digest in carried if digest in written}
            self._delete_edges([row_id for row_id in ids if row_id not in kept], "")
            self._delete_edges(sorted(kept), " AND kind = 'derived'")
            for chunk in chunks(ids, 5000):
                db.run(f"DELETE FROM {VERIFICATION} WHERE memo_id IN ({', '.join(['%s'] * len(chunk))})", chunk)
        edges = []
        for key, (memo, _, _) in self.new.items():
            digest = key_digest(*key)
            row_id = written.get(digest)
            if row_id is not None:
                edges += _edges(ns, row_id, memo, digest in carried)
        if edges:
            db.insert(EDGE, _EDGE_COLUMNS, edges, _EDGE_UPSERT)
        results = []
        for key, (memo, _, _) in self.new.items():
            digest = key_digest(*key)
            results.append((key, memo, written.get(digest), value_digests[digest]))
        return results

    def _delete_edges(self, row_ids: list[int], condition: str) -> None:
        """Delete the edges (those matching ``condition``) of the memo rows ``row_ids``."""
        for chunk in chunks(row_ids, 5000):
            self.db.run(f"DELETE FROM {EDGE} WHERE memo_id IN ({', '.join(['%s'] * len(chunk))}){condition}", chunk)

    def _unstored_reads(self, ns: int) -> set[Key]:
        """The new maintained memos that read an input version which is now neither current nor archived.

        Only possible when an input was overwritten after R before any stored edge named the
        version read (so it was not archived); such a memo is not written, and is recomputed.
        """
        reads = []
        for key, (memo, _, _) in self.new.items():
            inputs = memo.inputs
            if isinstance(inputs, StoredInputDeps):
                entries = inputs.pending.items() if inputs.row_id is not None else inputs.entries()
                reads += [
                    (key_digest(*dep), record.changed_at, key) for dep, (_, record) in entries if record is not None
                ]
        by_read: dict[tuple[str, int], list[Key]] = {}
        for digest, read_at, key in reads:
            by_read.setdefault((digest, read_at), []).append(key)
        missing: set[Key] = set()
        for chunk in chunks(list(by_read), (MAX_PARAMS - 2) // 2):
            values = ", ".join(["(%s, %s)"] * len(chunk))
            for digest, read_at in self.db.run(
                f"SELECT r.digest, r.read_at FROM (SELECT column1 AS digest, column2 AS read_at FROM (VALUES {values}) "
                f"AS pairs) AS r WHERE NOT EXISTS (SELECT 1 FROM {INPUT} i WHERE i.namespace_id = %s "
                "AND i.key_digest = r.digest AND i.changed_at = r.read_at) AND NOT EXISTS (SELECT 1 FROM "
                f"{VERSION} a WHERE a.namespace_id = %s AND a.key_digest = r.digest AND a.changed_at = r.read_at)",
                [*(value for pair in chunk for value in pair), ns, ns],
            ):
                missing.update(by_read[(digest, read_at)])
        return missing

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
