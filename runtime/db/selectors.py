"""Reads of the memo store: what other apps may see of it, and the index scans its admin and ``gc`` use.

Apps outside the store read its tables only through this module (and write through
``services``), so the models stay the store's own and can change with it.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet, Subquery

from runtime.keys import Key

from .models import InputValue, Memo, Namespace
from .rows import key_digest

#: Keys looked up per query (SQLite allows 999 parameters).
_KEYS_PER_QUERY = 500


def memo_none() -> QuerySet[Memo]:
    """No memos: for views whose OpenAPI schema needs the model their rows come from."""
    return Memo.objects.none()


def namespace_memo_list(*, name: str) -> QuerySet[Memo]:
    """The memos of the namespace called ``name``, latest changed first, with ``verified_at`` and without values.

    Empty if there is no such namespace (nothing stored in it yet, or an in-memory store).
    """
    namespace = Namespace.objects.filter(name=name).values_list("id", flat=True).first()
    if namespace is None:
        return Memo.objects.none()
    return (
        Memo.objects.filter(namespace_id=namespace)
        .only("id", "label", "function", "preview", "changed_at", "executed_at", "code_version", "duration",
              "written_at")
        .with_verified_at()
        .order_by("-changed_at", "-id")
    )


def namespace_row_ids(*, name: str, memos: Iterable[Key], inputs: Iterable[Key]) -> dict[Key, int]:
    """The row ids of the given memo and input keys in namespace ``name`` (keys without a row are left out).

    By ``key_digest`` through the (namespace, key_digest) indexes, a few hundred keys per query; for links to the admin.
    """
    namespace = Namespace.objects.filter(name=name).values_list("id", flat=True).first()
    found: dict[Key, int] = {}
    if namespace is None:
        return found
    for model, keys in ((Memo, memos), (InputValue, inputs)):
        by_digest = {key_digest(key[0], key[1]): key for key in keys}
        digests = list(by_digest)
        for start in range(0, len(digests), _KEYS_PER_QUERY):
            rows = model.objects.filter(namespace_id=namespace, key_digest__in=digests[start:start + _KEYS_PER_QUERY])
            for digest, row_id in rows.values_list("key_digest", "id"):
                found[by_digest[digest]] = row_id
    return found


def namespace_id_subquery(*, name: Any) -> Subquery:
    """The id of the namespace named ``name`` (an expression such as ``OuterRef("namespace")``), or null.

    Other apps annotate their rows with it, to link to the namespace's admin pages without a query per row.
    """
    return Subquery(Namespace.objects.filter(name=name).values("pk")[:1])


def distinct_functions(
    model: type[Model], namespace_ids: Iterable[int] | None = None, using: str = "default"
) -> list[str]:
    """The distinct ``function`` values of the memo or input table (in the given namespaces), without a table scan.

    A recursive query asks the (namespace, function) index for each next larger name per
    namespace (a loose index scan), so the cost grows with the number of distinct names,
    not with the number of rows, as ``SELECT DISTINCT`` would.
    """
    connection = connections[using]
    qn = connection.ops.quote_name
    table, namespaces = qn(model._meta.db_table), qn(Namespace._meta.db_table)
    ids = None if namespace_ids is None else list(namespace_ids)
    if ids == []:
        return []
    where = "" if ids is None else f" WHERE n.id IN ({', '.join(['%s'] * len(ids))})"
    sql = (
        "WITH RECURSIVE t(ns, fn) AS ("
        f"SELECT n.id, (SELECT MIN(function) FROM {table} WHERE namespace_id = n.id) FROM {namespaces} n{where} "
        "UNION ALL "
        f"SELECT t.ns, (SELECT MIN(function) FROM {table} WHERE namespace_id = t.ns AND function > t.fn) "
        "FROM t WHERE t.fn IS NOT NULL"
        ") SELECT DISTINCT fn FROM t WHERE fn IS NOT NULL ORDER BY fn"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, ids or [])
        return [fn for (fn,) in cursor.fetchall()]


def function_code_versions(using: str = "default") -> list[tuple[str, str]]:
    """Every distinct (function, code_version) in the memo table, by a loose scan of the runtime_memo_fn_code index."""
    connection = connections[using]
    table = connection.ops.quote_name(Memo._meta.db_table)
    sql = (
        "WITH RECURSIVE fns(fn) AS ("
        f"SELECT MIN(function) FROM {table} "
        f"UNION ALL SELECT (SELECT MIN(function) FROM {table} WHERE function > fns.fn) "
        "FROM fns WHERE fns.fn IS NOT NULL"
        "), pairs(fn, code) AS ("
        f"SELECT fns.fn, (SELECT MIN(code_version) FROM {table} WHERE function = fns.fn) "
        "FROM fns WHERE fns.fn IS NOT NULL "
        f"UNION ALL SELECT pairs.fn, (SELECT MIN(code_version) FROM {table} "
        "WHERE function = pairs.fn AND code_version > pairs.code) FROM pairs WHERE pairs.code IS NOT NULL"
        ") SELECT fn, code FROM pairs WHERE code IS NOT NULL ORDER BY fn, code"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [(fn, code) for fn, code in cursor.fetchall()]
