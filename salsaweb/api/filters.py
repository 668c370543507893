"""Query-string filters of the list endpoints (django-filter; they appear in the OpenAPI schema)."""
from __future__ import annotations

import django_filters
from django import forms

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
    """``?function=`` names the derived function exactly (indexed); the memo store's selectors give the rows."""

    function = django_filters.CharFilter()
