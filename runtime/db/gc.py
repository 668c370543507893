"""Memo-store maintenance: size report, invalidation and garbage collection, safe while workers run.

Every deletion runs in batches, and each batch is one transaction that first takes the
namespace's row lock (``SELECT ... FOR UPDATE``; on SQLite the IMMEDIATE transaction holds
the database's write lock), the same lock ``DatabaseStorage`` takes to flush and to change
inputs, so a batch never interleaves with a worker's write.  Removing memos is always safe: a
missing memo re-executes on next use, and from the next revision on the memos that read it
re-verify, find it missing and re-execute too.  A batch deletes edges and verification rows
first, then the memos by id.

Old input versions (``InputVersion``) are kept while a maintained memo's input edge names
them (``read_at``) and removed once none does (after that memo re-executed, or was removed
here): every run with ``delete`` removes those, after the memo rules.  A flush that would
name a version removed meanwhile sees it missing under the same lock and stores nothing.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Union

from django.db import connections, transaction
from django.db.models import Count, Exists, F, Model, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Length

from runtime.function import REGISTRY, DerivedFunction, InputFunction

from .models import (
    FunctionCode,
    InputValue,
    InputVersion,
    Memo,
    MemoDependency,
    Namespace,
    RevisionLog,
    Verification,
)
from .selectors import function_code_versions

Declared = Union[DerivedFunction, InputFunction]

DEFAULT_BATCH_SIZE = 1000


@dataclass
class SizeRow:
    """The rows one function holds in one namespace, their dependency edges and encoded value bytes."""

    namespace: str
    deleted: bool
    kind: str
    function: str
    rows: int
    edges: int
    value_bytes: int


@dataclass
class Removal:
    """What one rule removed (or, without ``delete``, would remove) from one namespace."""

    namespace: str
    rule: str
    detail: str
    memos: int = 0
    edges: int = 0
    inputs: int = 0
    log: int = 0
    versions: int = 0


@dataclass
class GcResult:
    """The removals, and the functions whose module failed to import (their memos are kept)."""

    removals: list[Removal] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# -- locking and batched deletion ---------------------------------------------------------


def _lock_namespace(namespace_id: int, using: str, memos_go: bool = True) -> bool:
    """Take the namespace's row lock (inside a transaction) and, when memos are about to go, bump
    its epoch: processes then drop what they cached.  False if the namespace is gone."""
    rows = Namespace.objects.using(using).select_for_update().filter(id=namespace_id)
    if not list(rows.values_list("id", flat=True)):
        return False
    if memos_go:
        rows.update(epoch=F("epoch") + 1)
    return True


def _delete_ids(model: type[Model], column: str, ids: list[int], using: str) -> int:
    """Delete the rows whose ``column`` is in ``ids`` with one plain DELETE (no ORM collector, no value reads)."""
    connection = connections[using]
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({', '.join(['%s'] * len(ids))})", ids)
        return cursor.rowcount


def _delete_memo_ids(ids: list[int], using: str) -> tuple[int, int]:
    """Delete these memos with their edges and verification rows; return (memos, edges)."""
    edges = _delete_ids(MemoDependency, "memo_id", ids, using)
    _delete_ids(Verification, "memo_id", ids, using)
    return _delete_ids(Memo, "id", ids, using), edges


def _delete_memos(namespace_id: int, condition: Q, batch_size: int, using: str) -> tuple[int, int]:
    """Delete the namespace's memos matching ``condition`` and their edges; return (memos, edges)."""
    memos = edges = 0
    while True:
        with transaction.atomic(using=using):
            if not _lock_namespace(namespace_id, using):
                return memos, edges
            ids = list(
                Memo.objects.using(using)
                .filter(condition, namespace_id=namespace_id)
                .values_list("id", flat=True)[:batch_size]
            )
            if ids:
                deleted, edges_deleted = _delete_memo_ids(ids, using)
                memos, edges = memos + deleted, edges + edges_deleted
        if len(ids) < batch_size:
            return memos, edges


def _count_memos(namespace_id: int, condition: Q, using: str) -> tuple[int, int]:
    """How many memos (and their edges) ``_delete_memos`` would delete now."""
    memos = Memo.objects.using(using).filter(condition, namespace_id=namespace_id)
    edges = MemoDependency.objects.using(using).filter(memo__in=memos.values("id"))
    return memos.count(), edges.count()


def _unreferenced_versions(namespace_id: int, using: str) -> QuerySet:
    """The namespace's old input versions that no memo's input edge names (by key and ``read_at``)."""
    naming = MemoDependency.objects.using(using).filter(
        namespace_id=OuterRef("namespace_id"), key_digest=OuterRef("key_digest"), read_at=OuterRef("changed_at")
    )
    return InputVersion.objects.using(using).filter(namespace_id=namespace_id).exclude(Exists(naming))


def _delete_versions(namespace_id: int, batch_size: int, using: str) -> int:
    """Delete the old input versions no edge names, in locked batches (no memo goes: the epoch stays)."""
    deleted = 0
    while True:
        with transaction.atomic(using=using):
            if not _lock_namespace(namespace_id, using, memos_go=False):
                return deleted
            ids = list(_unreferenced_versions(namespace_id, using).values_list("id", flat=True)[:batch_size])
            if ids:
                deleted += _delete_ids(InputVersion, "id", ids, using)
        if len(ids) < batch_size:
            return deleted


def _drop_namespace(namespace_id: int, batch_size: int, using: str) -> tuple[int, int, int, int, int]:
    """Delete a namespace's edges, memos, inputs, old versions and log in batches, then its row; return the counts."""
    removed: dict[type[Model], int] = dict.fromkeys(
        (MemoDependency, Memo, InputValue, InputVersion, RevisionLog, FunctionCode), 0
    )
    while True:
        with transaction.atomic(using=using):
            if not _lock_namespace(namespace_id, using):
                break
            # The first table (in foreign-key order) that still has rows gets a batch; a worker
            # that flushed since the last batch only sends the loop round again.
            for model in removed:
                rows = model.objects.using(using).filter(namespace_id=namespace_id)
                ids = list(rows.values_list("id", flat=True)[:batch_size])
                if ids:
                    if model is Memo:
                        _delete_ids(Verification, "memo_id", ids, using)
                    removed[model] += _delete_ids(model, "id", ids, using)
                    break
            else:
                _delete_ids(Namespace, "id", [namespace_id], using)
                break
    return (removed[Memo], removed[MemoDependency], removed[InputValue], removed[RevisionLog],
            removed[InputVersion])


def _with_dependents(namespace_id: int, ids: list[int], using: str) -> list[int]:
    """``ids`` and every memo that (transitively) read one of them, through the runtime_edge_dependents index."""
    step = DEFAULT_BATCH_SIZE
    found: dict[int, str] = {}
    for start in range(0, len(ids), step):
        found.update(Memo.objects.using(using).filter(id__in=ids[start : start + step]).values_list("id", "key_digest"))
    frontier = list(found.values())
    while frontier:
        new: dict[int, str] = {}
        for start in range(0, len(frontier), step):
            readers = MemoDependency.objects.using(using).filter(
                namespace_id=namespace_id, key_digest__in=frontier[start : start + step]
            )
            for memo_id, digest in readers.values_list("memo_id", "memo__key_digest"):
                if memo_id not in found:
                    new[memo_id] = digest
        found.update(new)
        frontier = list(new.values())
    return sorted(found)


def invalidate_memos(
    memos: QuerySet, with_dependents: bool = False, batch_size: int = DEFAULT_BATCH_SIZE
) -> tuple[int, int]:
    """Delete the given memos (and with ``with_dependents`` every memo that read them) and their edges.

    Each deleted memo re-executes on next use.  Without ``with_dependents``, a memo that read
    one and is already verified at the current revision is still served until an input
    changes; then it re-verifies, finds the dependency missing and re-executes.
    """
    using = memos.db
    by_namespace: dict[int, list[int]] = {}
    for namespace_id, memo_id in memos.order_by().values_list("namespace_id", "id"):
        by_namespace.setdefault(namespace_id, []).append(memo_id)
    total_memos = total_edges = 0
    for namespace_id, ids in sorted(by_namespace.items()):
        if with_dependents:
            ids = _with_dependents(namespace_id, ids, using)
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            with transaction.atomic(using=using):
                if not _lock_namespace(namespace_id, using):
                    break
                memos_deleted, edges_deleted = _delete_memo_ids(batch, using)
                total_memos, total_edges = total_memos + memos_deleted, total_edges + edges_deleted
    return total_memos, total_edges


# -- report -------------------------------------------------------------------------------


def store_report(namespace: str | None = None, using: str = "default") -> list[SizeRow]:
    """Rows, edges and value bytes per namespace and function (memos and inputs), for ``memo_gc``'s report."""
    namespaces = Namespace.objects.using(using)
    if namespace is not None:
        namespaces = namespaces.filter(name=namespace)
    names = {ns_id: (name, deleted_at is not None) for ns_id, name, deleted_at in namespaces.values_list(
        "id", "name", "deleted_at"
    )}
    edges = {
        (row["namespace_id"], row["memo__function"]): row["n"]
        for row in MemoDependency.objects.using(using)
        .filter(namespace_id__in=names)
        .values("namespace_id", "memo__function")
        .annotate(n=Count("id"))
        .order_by()
    }
    rows = []
    for kind, model in (("derived", Memo), ("input", InputValue), ("old input", InputVersion)):
        grouped = (
            model.objects.using(using)
            .filter(namespace_id__in=names)
            .values("namespace_id", "function")
            .annotate(rows=Count("id"), value_bytes=Sum(Length("value")))
            .order_by()
        )
        for row in grouped:
            name, deleted = names[row["namespace_id"]]
            rows.append(SizeRow(
                namespace=name,
                deleted=deleted,
                kind=kind,
                function=row["function"],
                rows=row["rows"],
                edges=edges.get((row["namespace_id"], row["function"]), 0) if kind == "derived" else 0,
                value_bytes=row["value_bytes"] or 0,
            ))
    rows.sort(key=lambda r: (r.namespace, r.kind, r.function))
    return rows


# -- garbage collection -------------------------------------------------------------------


def resolve_function(fn_id: str) -> Declared | None:
    """The declared function named ``fn_id`` (``module.qualname``), importing its module if needed; None if gone.

    Tries successively shorter dotted prefixes as the module name, and says "gone" only
    when one of them imports and does not declare the function.  When that cannot be told
    it raises: ``LookupError`` if no prefix is importable here (a wrong ``sys.path`` must
    not look like deleted code), or the function lives in ``__main__`` (a script or
    notebook) or inside another function; the import's own error if a module fails to
    import for another reason (a broken module, a missing dependency).
    """
    found = REGISTRY.lookup(fn_id)
    if found is not None:
        return found
    if fn_id.startswith("__main__.") or "<locals>" in fn_id:
        raise LookupError("declared in __main__ or inside a function: cannot be imported to check")
    parts = fn_id.split(".")
    for end in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:end])
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
                continue
            raise
        return REGISTRY.lookup(fn_id)
    raise LookupError("none of its module prefixes can be imported here")


def _stale_conditions(result: GcResult, using: str) -> list[tuple[str, Q]]:
    """One (description, condition) per function with memos of code that no longer exists."""
    versions: dict[str, list[str]] = {}
    for fn_id, code in function_code_versions(using):
        versions.setdefault(fn_id, []).append(code)
    conditions = []
    for fn_id, codes in versions.items():
        try:
            fn = resolve_function(fn_id)
        except Exception as exc:  # noqa: BLE001 - "cannot tell" (any import failure), so keep its memos
            result.skipped.append(f"{fn_id}: {type(exc).__name__}: {exc}")
            continue
        if fn is None or fn.is_input:
            conditions.append((f"{fn_id}: no longer a declared derived function", Q(function=fn_id)))
        elif any(code != fn.code for code in codes):
            conditions.append((f"{fn_id}: code other than {fn.code}", Q(function=fn_id) & ~Q(code_version=fn.code)))
    return conditions


def collect_garbage(
    *,
    namespace: str | None = None,
    unverified_before: int | None = None,
    stale_code: bool = False,
    delete: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    using: str = "default",
) -> GcResult:
    """Remove (or with ``delete=False`` count) what no longer serves, rule by rule, in locked batches.

    Namespaces marked deleted go entirely.  In the others: with ``stale_code``, memos of
    functions that are gone or of code versions that are not current; with
    ``unverified_before``, memos not verified since that revision; then always the old input
    versions no memo's edge names any more.  Rules may overlap, so dry-run counts can add up to
    more than a real run removes (and a dry run does not count versions the memo rules would free).
    """
    result = GcResult()
    namespaces = Namespace.objects.using(using).order_by("name")
    if namespace is not None:
        namespaces = namespaces.filter(name=namespace)
    live = []
    for ns_id, name, deleted_at in namespaces.values_list("id", "name", "deleted_at"):
        if deleted_at is None:
            live.append((ns_id, name))
            continue
        if delete:
            memos, edges, inputs, log, versions = _drop_namespace(ns_id, batch_size, using)
        else:
            memos = Memo.objects.using(using).filter(namespace_id=ns_id).count()
            edges = MemoDependency.objects.using(using).filter(namespace_id=ns_id).count()
            inputs = InputValue.objects.using(using).filter(namespace_id=ns_id).count()
            log = RevisionLog.objects.using(using).filter(namespace_id=ns_id).count()
            versions = InputVersion.objects.using(using).filter(namespace_id=ns_id).count()
        result.removals.append(
            Removal(name, "deleted namespace", "everything", memos, edges, inputs, log, versions)
        )
    rules: list[tuple[str, str, Q]] = []
    if stale_code:
        rules += [("stale code", detail, condition) for detail, condition in _stale_conditions(result, using)]
    if unverified_before is not None:
        detail = f"verified before revision {unverified_before}"
        rules.append(("unverified", detail, Q(executed_at__lt=unverified_before) & (
            Q(verification__isnull=True) | Q(verification__verified_at__lt=unverified_before)
        )))
    for ns_id, name in live:
        for rule, detail, condition in rules:
            if delete:
                memos, edges = _delete_memos(ns_id, condition, batch_size, using)
            else:
                memos, edges = _count_memos(ns_id, condition, using)
            if memos:
                result.removals.append(Removal(name, rule, detail, memos, edges))
        if delete:
            versions = _delete_versions(ns_id, batch_size, using)
        else:
            versions = _unreferenced_versions(ns_id, using).count()
        if versions:
            result.removals.append(Removal(name, "old input values", "named by no memo's edge", versions=versions))
    return result
