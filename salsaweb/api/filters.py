"""Query-string filters of the list endpoints (django-filter; they appear in the OpenAPI schema), and the check
that a request names no query parameter its endpoint does not take."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from salsaweb.regression import selectors
from salsaweb.regression.models import BatchRun, Dataset
from salsaweb.regression.modes import Mode

#: Largest batch number a filter takes (fits every database's integer column).
_MAX_INT = 2**31 - 1


class IntegerFilter(django_filters.NumberFilter):
    """A whole number within the database's integer range (django-filter's default takes any decimal)."""

    field_class = forms.IntegerField


class DatasetFilter(django_filters.FilterSet):
    """``?name=`` matches part of the name, case-insensitively."""

    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Dataset
        fields = ["name"]


class RunFilter(django_filters.FilterSet):
    """``?mode=``, a data revision range ``?revision_min=&revision_max=`` (inclusive: pollers ask for new
    revisions only) and a range of the newest batch number ``?batch_min=&batch_max=``."""

    mode = django_filters.ChoiceFilter(choices=Mode.choices)
    revision_min = IntegerFilter(field_name="revision", lookup_expr="gte", min_value=0, max_value=_MAX_INT)
    revision_max = IntegerFilter(field_name="revision", lookup_expr="lte", min_value=0, max_value=_MAX_INT)
    batch_min = IntegerFilter(field_name="batch__number", lookup_expr="gte", min_value=0, max_value=_MAX_INT)
    batch_max = IntegerFilter(field_name="batch__number", lookup_expr="lte", min_value=0, max_value=_MAX_INT)

    class Meta:
        model = BatchRun
        fields = ["mode", "revision_min", "revision_max", "batch_min", "batch_max"]


class MemoFilter(django_filters.FilterSet):
    """``?function=`` names the derived function by its full dotted name or a dotted tail (``statistics``)."""

    function = django_filters.CharFilter(
        method="function_named",
        help_text="The derived function: its full dotted name, or its last part(s), e.g. `statistics`.",
    )

    def function_named(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """The memos of every function the name matches (an indexed ``IN``, not a scan for a suffix)."""
        return queryset.filter(function__in=selectors.memo_functions_named(name=value))


def query_parameters_check(request: Request, allowed: Iterable[str]) -> None:
    """Refuse a query parameter the endpoint does not take: 400 ``invalid`` naming it and the ones it takes."""
    known = sorted(set(allowed))
    takes = f"this endpoint takes {', '.join(known)}" if known else "this endpoint takes none"
    unknown = [key for key in request.query_params if key not in known]
    if unknown:
        raise ValidationError({key: [f"unknown query parameter; {takes}"] for key in unknown})


def list_parameters(view: Any) -> set[str]:
    """The query parameters a list takes: its filterset's and its paginator's."""
    filterset = getattr(view, "filterset_class", None)
    names = set(filterset.base_filters) if filterset is not None else set()
    paginator = view.paginator
    if paginator is not None:
        names |= {paginator.page_query_param, paginator.page_size_query_param}
    return names
