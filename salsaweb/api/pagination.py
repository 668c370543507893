"""Page-number pagination for every list: ``?page=N&page_size=M``, items under ``results``."""
from __future__ import annotations

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """``count``, ``next``, ``previous`` and ``results``; page size from PAGE_SIZE, at most 1,000."""

    page_size_query_param = "page_size"
    max_page_size = 1000


class CurvePagination(PageNumberPagination):
    """Convergence curves carry a loss per iteration each, so their pages are short by default."""

    page_size = 10
    max_page_size = 100
