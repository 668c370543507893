"""Prefix search on memo labels (the call text, e.g. ``double(rt, 1)``) that an index serves.

A plain ``LIKE 'x%'`` is not index-assisted on PostgreSQL under a non-C collation, nor on
SQLite (whose LIKE ignores case), and indexing the whole label could fail a flush (a long
argument tuple exceeds PostgreSQL's B-tree row limit).  So the index
``runtime_memo_label_head`` holds the first ``LABEL_HEAD_CHARS`` characters in code-point
order, and a prefix search is a range on that same expression, which both backends answer
from the index.
"""
from __future__ import annotations

from typing import Any

from django.db.models import Func, QuerySet
from django.db.models.functions import Substr

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
