"""The memo store's tables: namespaces, the revision log, inputs and their old versions, memos, their
verifications and dependency edges.

Rows are keyed within a namespace by ``key_digest``, a SHA-1 of the function id and the
canonical argument text, so lookups and edges use one short indexed column.  Values are
stored encoded by ``runtime.db.codec`` (never pickled) with a short text preview
next to them, so the admin can list rows without reading the value column.
"""
from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Func, QuerySet
from django.db.models.functions import Coalesce, Substr

# -- prefix search on memo labels (the call text, e.g. ``double(rt, 1)``), served by an index
#
# A plain ``LIKE 'x%'`` is not index-assisted on PostgreSQL under a non-C collation, nor on
# SQLite (whose LIKE ignores case), and indexing the whole label could fail a flush (a long
# argument tuple exceeds PostgreSQL's B-tree row limit).  So the index
# ``runtime_memo_label_head`` holds the first ``LABEL_HEAD_CHARS`` characters in code-point
# order, and a prefix search is a range on that same expression, which both backends answer
# from the index.

#: How many leading characters of a label the search index holds.
LABEL_HEAD_CHARS = 100
#: The largest code point: every string that starts with ``p`` sorts below ``p + _TOP``.
_TOP = "\U0010ffff"


class CodePointOrder(Func):
    """Text compared by code point: ``COLLATE "C"`` on PostgreSQL; SQLite's default BINARY already is."""

    arity = 1
    template = "%(expressions)s"

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:
        """Render with the C collation, whose order (and index) is byte order."""
        return self.as_sql(compiler, connection, template='%(expressions)s COLLATE "C"', **extra_context)


def label_head() -> CodePointOrder:
    """The indexed expression: the label's first ``LABEL_HEAD_CHARS`` characters, in code-point order."""
    return CodePointOrder(Substr("label", 1, LABEL_HEAD_CHARS))


def filter_label_prefix(queryset: QuerySet, prefix: str) -> QuerySet:
    """Memos whose label starts with ``prefix`` (case-sensitive), found through the label index."""
    head = prefix[:LABEL_HEAD_CHARS]
    queryset = queryset.annotate(label_head=label_head()).filter(label_head__gte=head, label_head__lt=head + _TOP)
    if len(prefix) > LABEL_HEAD_CHARS:
        queryset = queryset.filter(label__startswith=prefix)
    return queryset


class Namespace(models.Model):
    """An independent store: its own revision counter, inputs and memos (one per dataset, say)."""

    name = models.CharField(max_length=200, unique=True)
    revision = models.BigIntegerField(default=0)
    epoch = models.BigIntegerField(
        default=0, help_text="Bumped whenever memos are deleted, so that processes drop what they cached."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Marked for removal by memo_gc.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RevisionLog(models.Model):
    """One input change: which input, what happened, at which revision, and who did it.

    A revision has one entry per input a transaction (``Runtime.transaction``) changed in it.
    """

    ACTIONS = [("set", "set"), ("delete", "delete"), ("code", "code changed")]

    # Indexed by the (namespace, revision) index, like the other namespace keys below.
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="revision_log", db_index=False)
    revision = models.BigIntegerField()
    function = models.CharField(max_length=300)
    args = models.TextField(help_text="The input's keys as the call reads, e.g. sample(rt, 1).")
    action = models.CharField(max_length=10, choices=ACTIONS)
    process = models.CharField(max_length=200, help_text="host:pid of the process that made the change.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-revision"]
        indexes = [models.Index(fields=["namespace", "revision"], name="runtime_log_ns_revision")]

    def __str__(self) -> str:
        return f"r{self.revision} {self.action} {self.args}"


class InputValue(models.Model):
    """An input's current value (or tombstone) and the revision it last changed at."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="inputs", db_index=False)
    function = models.CharField(max_length=300)
    args_key = models.TextField(help_text="Canonical text of the normalized keys.")
    key_digest = models.CharField(max_length=40)
    value = models.BinaryField(null=True)
    preview = models.CharField(max_length=200, blank=True)
    changed_at = models.BigIntegerField()
    deleted = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "key_digest"], name="runtime_input_unique_key"),
        ]
        indexes = [
            models.Index(fields=["namespace", "function"], name="runtime_input_ns_fn"),
            # Serves "which inputs changed since revision r" (DatabaseStorage.inputs_changed_since).
            models.Index(fields=["namespace", "changed_at"], name="runtime_input_ns_changed"),
        ]

    def __str__(self) -> str:
        return f"{self.function}{self.args_key}"


class InputVersion(models.Model):
    """An input's value (or tombstone) as it was before it was overwritten, kept for maintained memos.

    A maintained memo's input edges name the version they read (``MemoDependency.read_at``);
    when such a version is overwritten it is copied here first, so ``changes`` can still report
    the old value, in any process and after restarts.  ``memo_gc`` removes the versions no edge
    names any more.
    """

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+", db_index=False)
    function = models.CharField(max_length=300)
    args_key = models.TextField(help_text="Canonical text of the normalized keys.")
    key_digest = models.CharField(max_length=40)
    changed_at = models.BigIntegerField(help_text="The revision this version was set (or deleted) at.")
    value = models.BinaryField(null=True)
    deleted = models.BooleanField(default=False)
    archived_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "key_digest", "changed_at"], name="runtime_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.function}{self.args_key} @ {self.changed_at}"


class MemoQuerySet(QuerySet):
    """Memo rows, with the revision each was last verified at on request."""

    def with_verified_at(self) -> "MemoQuerySet":
        """Annotate ``verified_at``: the later of the execution and of any re-verification since."""
        return self.annotate(verified_at=Coalesce("verification__verified_at", "executed_at"))


class Memo(models.Model):
    """A memoized derived call: value, revisions, code version, cost, and (via edges) what it read.

    ``executed_at`` is the revision of the execution that wrote the row; re-verifying it later
    writes a ``Verification`` row instead of rewriting this wide one (see ``with_verified_at``).
    """

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="memos", db_index=False)
    function = models.CharField(max_length=300)
    args_key = models.TextField(help_text="Canonical text of the normalized arguments.")
    label = models.TextField(help_text="The call as text, e.g. double(rt, 1); searchable.")
    key_digest = models.CharField(max_length=40)
    value = models.BinaryField()
    value_digest = models.CharField(max_length=32, help_text="BLAKE2b of the encoded value, for backdating.")
    deps = models.BinaryField(
        help_text="The dependency keys in read order, encoded: what the engine loads (the edges serve inspection)."
    )
    preview = models.CharField(max_length=200, blank=True)
    changed_at = models.BigIntegerField()
    executed_at = models.BigIntegerField(help_text="The revision of the execution that wrote this value.")
    code_version = models.CharField(max_length=64)
    duration = models.FloatField(help_text="Seconds the last execution took.")
    written_at = models.DateTimeField()
    written_by = models.CharField(max_length=100, default="", help_text="host:pid:flush of the process that wrote it.")
    maintained = models.BooleanField(
        default=False, help_text="Its function called changes(): its input edges carry over between executions."
    )
    input_count = models.PositiveIntegerField(default=0, help_text="How many inputs a maintained memo depends on.")

    objects = MemoQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "key_digest"], name="runtime_memo_unique_key"),
        ]
        indexes = [
            models.Index(fields=["namespace", "function", "code_version"], name="runtime_memo_ns_fn_code"),
            models.Index(fields=["namespace", "changed_at"], name="runtime_memo_ns_changed"),
            models.Index(fields=["function", "code_version"], name="runtime_memo_fn_code"),
            # Serves the admin's search by call-text prefix (see filter_label_prefix).
            models.Index(label_head(), name="runtime_memo_label_head"),
        ]

    def __str__(self) -> str:
        return self.label


class RowIdOneToOneField(models.OneToOneField):
    """A one-to-one primary key that SQLite stores as the table's rowid.

    SQLite makes only an ``integer primary key`` column the rowid; Django declares this one
    ``bigint``, which would add a second B-tree to look every row up through.  Other
    databases get the usual column.
    """

    def db_type(self, connection: Any) -> str | None:
        """``integer`` on SQLite (still 64 bits there), the target's type elsewhere."""
        return "integer" if connection.vendor == "sqlite" else super().db_type(connection)


class Verification(models.Model):
    """The revision a memo was last re-verified at, when that is later than its execution.

    A narrow row of its own: re-verifying thousands of memos (the common case after an input
    change that reached none of them) rewrites these integer pairs, not the wide, indexed memo
    rows.  Re-executing a memo removes its row.
    """

    memo = RowIdOneToOneField(Memo, on_delete=models.CASCADE, primary_key=True, related_name="verification")
    verified_at = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.memo_id} verified at {self.verified_at}"


class MemoDependency(models.Model):
    """One dependency a memo read, at its position in read order (per kind, for a maintained memo).

    A maintained memo's derived dependencies are also packed in ``Memo.deps``; its input
    dependencies are only here, each with ``read_at``, the ``changed_at`` of the version it
    last read (null: the input had no value), and are read by key, never loaded whole.
    """

    KINDS = [("input", "input"), ("derived", "derived")]

    memo = models.ForeignKey(Memo, on_delete=models.CASCADE, related_name="dependencies", db_index=False)
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+", db_index=False)
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=KINDS)
    function = models.CharField(max_length=300)
    args_key = models.TextField()
    key_digest = models.CharField(max_length=40)
    read_at = models.BigIntegerField(
        null=True, blank=True, help_text="A maintained memo's input edge: the changed_at of the version it read."
    )

    class Meta:
        ordering = ["memo", "position"]
        constraints = [
            models.UniqueConstraint(fields=["memo", "kind", "position"], name="runtime_edge_unique_kind_position"),
            # Serves a maintained memo's lookups of the inputs it read, and their upsert.
            models.UniqueConstraint(fields=["memo", "key_digest"], name="runtime_edge_unique_key"),
        ]
        indexes = [models.Index(fields=["namespace", "key_digest"], name="runtime_edge_dependents")]

    def __str__(self) -> str:
        return f"{self.memo_id}[{self.position}] -> {self.function}{self.args_key}"


class FunctionCode(models.Model):
    """The code version a namespace last saw for each derived function (a change starts a revision)."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="function_codes", db_index=False)
    function = models.CharField(max_length=300)
    code_version = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "function"], name="runtime_code_one_per_function"),
        ]

    def __str__(self) -> str:
        return f"{self.function} @ {self.code_version}"
