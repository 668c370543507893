"""The store's SQL vocabulary, and a small object that runs statements on one database alias.

The store reads and writes with hand-built statements (the ORM only for single-row writes and
counts).  Here are the ``runtime`` app's table names, the column lists each kind of read
selects (values up to ``INLINE_VALUE_BYTES`` come inline; larger ones are read on first use),
and ``Database``: run a statement, insert many rows with as few multi-row statements as
``MAX_PARAMS`` bound parameters allow, lock rows with ``FOR UPDATE`` where the backend has it
(PostgreSQL; SQLite's write transactions are exclusive already), and the time to store.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

__all__ = ["CODE", "EDGE", "INLINE_VALUE_BYTES", "INPUT", "INPUTS", "INPUT_COLUMNS", "LOG", "MAX_PARAMS", "MEMO",
           "MEMOS", "MEMO_DETAILS", "MEMO_META", "NAMESPACE", "VERIFICATION", "VERSION", "Database", "Table", "chunks",
           "inline"]

#: Values up to this many bytes come with the rows a load reads; larger ones on first use.
INLINE_VALUE_BYTES = 8192
#: Bound parameters per statement (SQLite allows 32,766; PostgreSQL 65,535).
MAX_PARAMS = 30000
MEMO, EDGE, INPUT = "runtime_memo", "runtime_memodependency", "runtime_inputvalue"
NAMESPACE, CODE, VERIFICATION = "runtime_namespace", "runtime_functioncode", "runtime_verification"
LOG, VERSION = "runtime_revisionlog", "runtime_inputversion"


def inline(alias: str) -> str:
    """The value column of the table ``alias`` when it is small enough to come with the row, else NULL."""
    return f"CASE WHEN length({alias}.value) <= {INLINE_VALUE_BYTES} THEN {alias}.value END"


#: What verification needs of a memo (``verified_at`` is the later of its execution and re-verification), and
#: for a maintained one the flush token its input edges belong to (NULL for others) and how many there are.
MEMO_META = ("m.id, m.key_digest, m.changed_at, COALESCE(v.verified_at, m.executed_at), m.code_version, m.deps, "
             "CASE WHEN m.maintained THEN m.written_by END, m.input_count")
#: What only using a memo needs: its value digest, execution time and (when small) value.
MEMO_DETAILS = f"m.value_digest, m.duration, {inline('m')}"
INPUT_COLUMNS = f"m.id, m.key_digest, m.changed_at, m.deleted, {inline('m')}"


@dataclass(frozen=True, slots=True)
class Table:
    """How to read one kind of row: the FROM clause (the table as ``m``) and the columns per kind of read."""

    source: str
    by_key: str
    whole: str


MEMOS = Table(f"{MEMO} m LEFT JOIN {VERIFICATION} v ON v.memo_id = m.id", f"{MEMO_META}, {MEMO_DETAILS}", MEMO_META)
INPUTS = Table(f"{INPUT} m", INPUT_COLUMNS, INPUT_COLUMNS)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of at most ``size``, so a statement stays within its limits."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Database:
    """Runs the store's statements on one database alias."""

    __slots__ = ("using",)

    def __init__(self, using: str) -> None:
        self.using = using

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows (if any)."""
        connection = connections[self.using]
        if connection.vendor == "postgresql" and any(type(p) is bytes and len(p) > INLINE_VALUE_BYTES for p in params):
            return self._run_bound(sql, params, binary=False)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def run_large(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a statement that selects large values; on PostgreSQL they come as bytes, not as their hex text."""
        if connections[self.using].vendor == "postgresql":
            return self._run_bound(sql, params, binary=True)
        return self.run(sql, params)

    def _run_bound(self, sql: str, params: Sequence[Any], *, binary: bool) -> list[tuple[Any, ...]]:
        """Run on PostgreSQL with the parameters bound by the server and sent, like the results if ``binary``, as
        bytes: Django's client-side binding would spell a value of megabytes out as hex text in the statement.
        Same connection, so the same transaction."""
        import psycopg

        connection = connections[self.using]
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, binary=binary)
            return cursor.fetchall() if cursor.description else []

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters (one round trip where the driver allows)."""
        with connections[self.using].cursor() as cursor:
            cursor.executemany(sql, rows)

    def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], suffix: str = "") -> None:
        """Insert ``rows`` with as few multi-row statements as the parameter limit allows."""
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for chunk in chunks(rows, MAX_PARAMS // len(columns)):
            self.run(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(chunk))}{suffix}",
                [value for row in chunk for value in row],
            )

    def for_update(self, clause: str = " FOR UPDATE") -> str:
        """``clause`` to lock the rows a SELECT reads, or nothing where the backend cannot (SQLite)."""
        return clause if connections[self.using].features.has_select_for_update else ""

    def in_transaction(self) -> bool:
        """Whether a transaction (the caller's or the store's) is open on this alias."""
        return connections[self.using].in_atomic_block

    def atomic(self) -> transaction.Atomic:
        """A transaction (or savepoint, inside one) on this alias."""
        return transaction.atomic(using=self.using)

    def now(self) -> Any:
        """The current time as this backend stores a datetime column."""
        return connections[self.using].ops.adapt_datetimefield_value(timezone.now())
