"""The memo-store admin: pages render on real store data, filters and prefix search work, it is read-only
except for invalidation (after which calls re-execute), and the memo list's query count does not grow with rows."""
from __future__ import annotations

import re

import numpy as np
import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from runtime import Runtime, declare_input, derived
from runtime.db.admin import CappedPaginator
from runtime.db.models import InputValue, Memo, MemoDependency, Namespace, RevisionLog
from runtime.db.storage import DatabaseStorage
from tests.execution_log import log

pytestmark = pytest.mark.django_db

MEMO_LIST = reverse("admin:runtime_memo_changelist")


@declare_input
def scale(rt) -> float:
    """Factor every derived value is multiplied by."""


@derived
def square(rt, i: int) -> float:
    log.add(("square", i))
    return scale(rt) * i * i


@derived
def total(rt, n: int) -> float:
    log.add(("total", n))
    return sum(square(rt, i) for i in range(n))


@derived
def vector(rt, n: int) -> np.ndarray:
    log.add(("vector", n))
    return np.arange(n, dtype=np.float64) * scale(rt)


def _populate(namespace: str = "adm", squares: int = 5) -> Runtime:
    """A namespace with ``squares`` square memos, total(rt, 3) over three of them, and an array memo."""
    rt = Runtime(storage=DatabaseStorage(namespace))
    scale.set(rt, 2.0)
    with rt.unit_of_work():
        for i in range(squares):
            square(rt, i)
        total(rt, 3)
        vector(rt, 4)
    return rt


def _memo(label: str, namespace: str = "adm") -> Memo:
    return Memo.objects.get(namespace__name=namespace, label=label)


def _listed(client: Client, query: str = "") -> list[str]:
    response = client.get(MEMO_LIST + query)
    assert response.status_code == 200
    return sorted(memo.label for memo in response.context["cl"].result_list)


def test_every_list_and_change_page_renders(admin_client: Client):
    _populate()
    for model in ("memo", "inputvalue", "revisionlog", "namespace"):
        response = admin_client.get(reverse(f"admin:runtime_{model}_changelist"))
        assert response.status_code == 200, model
        obj = {"memo": Memo, "inputvalue": InputValue, "revisionlog": RevisionLog, "namespace": Namespace}[model]
        response = admin_client.get(reverse(f"admin:runtime_{model}_change", args=[obj.objects.first().pk]))
        assert response.status_code == 200, model
    namespaces = admin_client.get(reverse("admin:runtime_namespace_changelist")).content.decode()
    assert f'?namespace__id__exact={Namespace.objects.get().pk}">7</a>' in namespaces  # 5 squares, total, vector


def test_memo_page_shows_value_dependencies_in_order_dependents_and_timing(admin_client: Client):
    _populate()
    memo = _memo("total(rt, 3)")
    page = admin_client.get(reverse("admin:runtime_memo_change", args=[memo.pk])).content.decode()
    assert "10.0  (" in page  # 2 * (0 + 1 + 4), with its size in bytes
    links = [
        reverse("admin:runtime_memo_change", args=[_memo(f"square(rt, {i})").pk]) for i in range(3)
    ]
    positions = [page.index(f'href="{link}"') for link in links]
    assert positions == sorted(positions)  # in read order
    assert re.search(r"Execution time:.*?>[0-9.e+-]+ m?s<", page, re.S)
    square_page = admin_client.get(reverse("admin:runtime_memo_change", args=[_memo("square(rt, 1)").pk]))
    text = square_page.content.decode()
    assert f'href="{reverse("admin:runtime_memo_change", args=[memo.pk])}">total(rt, 3)</a>' in text  # dependent
    scale_row = InputValue.objects.get()
    assert f'href="{reverse("admin:runtime_inputvalue_change", args=[scale_row.pk])}"' in text  # input dependency
    input_page = admin_client.get(reverse("admin:runtime_inputvalue_change", args=[scale_row.pk])).content.decode()
    assert "square(rt, 4)</a>" in input_page and "vector(rt, 4)</a>" in input_page  # memos that read the input
    array_page = admin_client.get(reverse("admin:runtime_memo_change", args=[_memo("vector(rt, 4)").pk]))
    assert "array(4,) float64 [0.0, 2.0, 4.0, 6.0]" in array_page.content.decode()


def test_filters_by_namespace_function_code_version_and_changed_at(admin_client: Client):
    rt = _populate("adm")
    _populate("other", squares=2)
    adm = Namespace.objects.get(name="adm").pk
    assert len(_listed(admin_client)) == 7 + 5  # other: 2 squares, square(rt, 2) via total, total, vector
    assert len(_listed(admin_client, f"?namespace__id__exact={adm}")) == 7
    squares = _listed(admin_client, f"?namespace__id__exact={adm}&function={square.id}")
    assert squares == [f"square(rt, {i})" for i in range(5)]
    choices = admin_client.get(MEMO_LIST + f"?namespace__id__exact={adm}").content.decode()
    assert f"function={total.id}" in choices
    assert _listed(admin_client, f"?code_version={total.code}") == ["total(rt, 3)", "total(rt, 3)"]
    assert _listed(admin_client, f"?namespace__id__exact={adm}&code_version={total.code}") == ["total(rt, 3)"]
    assert _listed(admin_client, "?code_version=0:not-a-version") == []
    assert f"{total.code} (current)" in choices
    # A new scale changes square(rt, 1) (read by total) but not square(rt, 0) (still 0.0: backdated).
    scale.set(rt, 3.0)
    total(rt, 3)
    assert _listed(admin_client, f"?namespace__id__exact={adm}&changed=current") == [
        "square(rt, 1)", "square(rt, 2)", "total(rt, 3)"
    ]
    older = _listed(admin_client, f"?namespace__id__exact={adm}&changed=10")
    assert len(older) == 7


def test_search_is_by_call_text_prefix(admin_client: Client):
    _populate(squares=12)
    assert _listed(admin_client, "?q=square(rt, 1") == ["square(rt, 1)", "square(rt, 10)", "square(rt, 11)"]
    assert _listed(admin_client, "?q=total(rt, 3)") == ["total(rt, 3)"]
    assert _listed(admin_client, "?q=Square") == []  # case-sensitive
    assert _listed(admin_client, "?q=rt, 1") == []  # a prefix, not a substring


def test_invalidate_deletes_rows_and_the_next_call_re_executes(admin_client: Client):
    rt = _populate()
    victims = [_memo("square(rt, 1)").pk, _memo("vector(rt, 4)").pk]
    assert 'value="invalidate"' in admin_client.get(MEMO_LIST).content.decode()
    response = admin_client.post(MEMO_LIST, {"action": "invalidate", "_selected_action": victims}, follow=True)
    assert response.status_code == 200
    assert "Invalidated 2 memos (2 dependency edges removed)" in response.content.decode()
    assert not Memo.objects.filter(pk__in=victims).exists()
    assert not MemoDependency.objects.filter(memo_id__in=victims).exists()
    assert Memo.objects.count() == 5
    log.clear()
    assert square(rt, 1) == 2.0
    assert list(vector(rt, 4)) == [0.0, 2.0, 4.0, 6.0]
    assert total(rt, 3) == 10.0  # verified at this revision: served as it is
    assert sorted(log.take()) == [("square", 1), ("vector", 4)]
    Memo.objects.filter(label="square(rt, 1)").delete()
    scale.set(rt, 2.5)  # at the next revision, total re-verifies, finds square(rt, 1) missing, re-executes
    assert total(rt, 3) == 12.5
    executed = log.take()
    assert ("total", 3) in executed and ("square", 1) in executed


def test_invalidate_with_dependents_re_executes_them_at_once(admin_client: Client):
    rt = _populate()
    victim = _memo("square(rt, 1)").pk
    response = admin_client.post(
        MEMO_LIST, {"action": "invalidate_with_dependents", "_selected_action": [victim]}, follow=True
    )
    assert "Invalidated 2 memos (4 dependency edges removed)" in response.content.decode()  # and total(rt, 3)
    log.clear()
    assert total(rt, 3) == 10.0
    assert sorted(log.take()) == [("square", 1), ("total", 3)]


def test_nothing_can_be_added_changed_or_deleted_through_the_admin(admin_client: Client):
    _populate()
    memo = _memo("square(rt, 2)")
    assert admin_client.get(reverse("admin:runtime_memo_add")).status_code == 403
    assert admin_client.get(reverse("admin:runtime_memo_delete", args=[memo.pk])).status_code == 403
    assert admin_client.post(reverse("admin:runtime_memo_delete", args=[memo.pk]), {"post": "yes"}).status_code == 403
    admin_client.post(reverse("admin:runtime_memo_change", args=[memo.pk]), {"label": "hacked"})
    admin_client.post(MEMO_LIST, {"action": "delete_selected", "_selected_action": [memo.pk], "post": "yes"})
    memo.refresh_from_db()
    assert memo.label == "square(rt, 2)"
    page = admin_client.get(reverse("admin:runtime_memo_change", args=[memo.pk])).content.decode()
    assert "deletelink" not in page and 'name="_save"' not in page


def test_staff_without_permissions_can_change_nothing():
    _populate()
    memo = _memo("square(rt, 2)")
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(MEMO_LIST).status_code == 403
    assert client.get(reverse("admin:runtime_memo_change", args=[memo.pk])).status_code == 403
    client.post(MEMO_LIST, {"action": "invalidate", "_selected_action": [memo.pk]})
    assert Memo.objects.filter(pk=memo.pk).exists()
    staff.user_permissions.add(Permission.objects.get(codename="view_memo"))
    response = client.get(MEMO_LIST)
    assert response.status_code == 200 and 'value="invalidate"' not in response.content.decode()
    client.post(MEMO_LIST, {"action": "invalidate", "_selected_action": [memo.pk]})
    assert Memo.objects.filter(pk=memo.pk).exists()


def test_capped_paginator_never_counts_past_the_cap(admin_client: Client, monkeypatch: pytest.MonkeyPatch):
    _populate(squares=30)
    monkeypatch.setattr(CappedPaginator, "cap", 20)
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(MEMO_LIST).content.decode()
    assert "more than 20 memos" in page
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 21" in sql for sql in counts)
    assert "more than 20 results" in admin_client.get(MEMO_LIST + "?q=square").content.decode()


@pytest.mark.parametrize("query", ["", "?namespace__id__exact={ns}&function={fn}&changed=current&q=square"])
def test_memo_list_query_count_does_not_grow_with_rows(admin_client: Client, query: str):
    def count_queries(rows: int) -> int:
        Namespace.objects.filter(name="big").delete()
        rt = Runtime(storage=DatabaseStorage("big"))
        scale.set(rt, 1.0)
        with rt.unit_of_work():
            for i in range(rows):
                square(rt, i)
        url = MEMO_LIST + query.format(ns=Namespace.objects.get(name="big").pk, fn=square.id)
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(url)
        assert response.status_code == 200 and len(response.context["cl"].result_list) == min(rows, 100)
        return len(queries)

    # session, user, 4-5 for filters (the namespace filter's include their owners' names), capped count, page
    assert count_queries(50) == count_queries(500) <= 9
