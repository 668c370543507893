"""The memo store in the Django admin: read-only views that stay fast on a million memo rows, and invalidation.

Nothing here adds, edits or deletes rows through the ORM: the tables belong to
``DatabaseStorage``.  The one write is the memo list's "Invalidate" action (it needs the
delete permission), which removes the selected memos through ``runtime.db.gc`` in batches under
the namespace lock, as ``memo_gc`` does, so it is safe while workers run; the memos
re-execute on next use.

Speed on big tables: lists never count a whole table (``CappedPaginator`` counts at most
``CappedPaginator.cap`` rows; full counts and facets are off), never read the value column,
filter through indexes (each filter says which), list filter choices with loose index scans
instead of ``SELECT DISTINCT``, and search memos by call-text prefix through
``runtime_memo_label_head``.  Namespace memo counts are capped the same way.

Apps that keep their data in namespaces can show who owns each one: the namespace list and
page have an "owner" column filled by the functions that ``settings.MEMO_STORE_NAMESPACE_OWNERS``
names by dotted path.  Each takes the names of the namespaces on a page and returns
``{name: (text, url)}`` for those it owns; it is called once per page (one query of its own,
say), so this module imports none of those apps.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Case, F, IntegerField, Q, QuerySet, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Length
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString

from runtime.function import REGISTRY
from runtime.keys import call_label

from .codec import decode, preview
from .gc import invalidate_memos
from .models import InputValue, Memo, MemoDependency, Namespace, RevisionLog, filter_label_prefix
from .rows import parse_args_text
from .selectors import distinct_functions, function_code_versions

#: Values up to this size are decoded for the change page's preview; larger ones show the stored preview.
DECODE_LIMIT_BYTES = 5_000_000
#: Longest preview the change page shows.
PREVIEW_CHARS = 2000
#: Dependencies or dependents listed on a change page.
LINKS_SHOWN = 200
#: Per-namespace row counts stop at this many.
COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    """Counts at most ``cap`` + 1 rows, so listing a huge table never counts all of it."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        """The number of rows, or ``cap`` + 1 if there are more than ``cap``."""
        return self.object_list[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        """Whether there are more rows than were counted (the templates then say "more than")."""
        return self.count > self.cap


def _selected_namespace(request: HttpRequest) -> int | None:
    """The namespace id the list is filtered by, if any."""
    try:
        return int(request.GET["namespace__id__exact"])
    except (KeyError, ValueError):
        return None


def _call_text(function: str, args_key: str) -> str:
    """The call as it reads, e.g. ``double(rt, 1)``."""
    try:
        return call_label((function, parse_args_text(args_key)))
    except (ValueError, SyntaxError):
        return f"{function}{args_key}"


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete through the admin: the tables are written by the store."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedPaginator
    list_per_page = 100

    class Media:
        css = {"all": ["runtime/admin.css"]}

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Rows are created by running functions, not here."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Rows are rewritten by the store only."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Deleting through the ORM would bypass the namespace lock."""
        return False


# -- list filters -------------------------------------------------------------------------


class NamespaceFilter(admin.SimpleListFilter):
    """By namespace, each named by what owns it (a dataset's name rather than ``regression-<hex>``)."""

    title = "dataset (namespace)"
    parameter_name = "namespace__id__exact"  # the links from the namespace and dataset pages use it

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        """Every namespace not marked deleted, by owner text (its name when no app owns it)."""
        rows = list(Namespace.objects.filter(deleted_at__isnull=True).order_by("name").values_list("id", "name"))
        owners = _request_owners(request, [name for _, name in rows])
        choices = [(str(ns_id), owners[name][0] if name in owners else name) for ns_id, name in rows]
        return sorted(choices, key=lambda choice: choice[1].lower())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Rows of the chosen namespace (through each table's namespace-first index)."""
        value = self.value()
        return queryset.filter(namespace_id=int(value)) if value and value.isdigit() else queryset


def _owner_pairs(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``{name: (text, url)}`` of the named namespaces' owners, from each ``MEMO_STORE_NAMESPACE_OWNERS`` function."""
    pairs: dict[str, tuple[str, str]] = {}
    for path in getattr(settings, "MEMO_STORE_NAMESPACE_OWNERS", ()):
        for name, pair in import_string(path)(names).items():
            pairs.setdefault(name, pair)
    return pairs


def _request_owners(request: HttpRequest, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``_owner_pairs`` kept on the request, so the filter and the page's rows ask the owners once between them."""
    known: dict[str, tuple[str, str] | None] = request.__dict__.setdefault("_namespace_owners", {})
    missing = [name for name in names if name not in known]
    if missing:
        found = _owner_pairs(missing)
        known.update({name: found.get(name) for name in missing})
    return {name: known[name] for name in names if known[name] is not None}  # type: ignore[misc]


class OwnedRowsChangeList(ChangeList):
    """A list of rows of namespaces (memos, inputs, the log), with the owners of the page's namespaces found together."""

    def get_results(self, request: HttpRequest) -> None:
        """The page's rows, each with ``owner_link`` (the namespace's name when no app owns it)."""
        super().get_results(request)
        owners = _request_owners(request, sorted({row.namespace.name for row in self.result_list}))
        for row in self.result_list:
            found = owners.get(row.namespace.name)
            row.owner_link = format_html('<a href="{}">{}</a>', found[1], found[0]) if found else row.namespace.name


class OwnerColumn:
    """The ``dataset`` column of a namespaced row's list (its namespace's owner) and the change list that fills it."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        """A change list that finds the owners of a page's namespaces in one go."""
        return OwnedRowsChangeList

    @admin.display(description="dataset")
    def owner(self, obj: Any) -> SafeString | str:
        """What owns the row's namespace, linked (the namespace's name when nothing does)."""
        link = getattr(obj, "owner_link", None)
        if link is None:  # a change page: one row
            link = namespace_owners([obj.namespace.name]).get(obj.namespace.name) or obj.namespace.name
        return link


def _clipped(text: str, limit: int) -> SafeString:
    """``text`` cut to ``limit`` characters with an ellipsis, the whole of it in a tooltip."""
    if len(text) <= limit:
        return format_html("{}", text)
    return format_html('<span title="{}">{}…</span>', text, text[: limit - 1])


def _milliseconds(seconds: float) -> str:
    """A duration rounded for reading: ``0.42 ms``, ``64.81 ms``, ``1.25 s``."""
    return f"{seconds * 1000:,.2f} ms" if seconds < 1 else f"{seconds:,.2f} s"


class FunctionFilter(admin.SimpleListFilter):
    """By function; choices by a loose scan of the (namespace, function) index, the filter uses that index."""

    title = "function"
    parameter_name = "function"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        """The functions present in the selected namespace (or in any)."""
        namespace = _selected_namespace(request)
        functions = distinct_functions(model_admin.model, None if namespace is None else [namespace])
        return [(fn, fn.rsplit(".", 1)[-1]) for fn in functions]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Rows of the chosen function."""
        return queryset.filter(function=self.value()) if self.value() else queryset


class CodeVersionFilter(admin.SimpleListFilter):
    """By code version; choices by a loose scan of the (function, code_version) index, which the filter also uses."""

    title = "code version"
    parameter_name = "code_version"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        """Each code version with its function (of the chosen function only, if one is)."""
        function = request.GET.get("function")
        self.pairs = function_code_versions()
        choices = []
        for fn_id, code in self.pairs:
            if function and fn_id != function:
                continue
            declared = REGISTRY.lookup(fn_id)
            current = " (current)" if declared is not None and getattr(declared, "code", None) == code else ""
            choices.append((code, f"{fn_id.rsplit('.', 1)[-1]} {code}{current}"))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Rows of the chosen code version, naming its functions so the index applies."""
        code = self.value()
        if not code:
            return queryset
        return queryset.filter(function__in=sorted({fn for fn, c in self.pairs if c == code}), code_version=code)


class ChangedAtFilter(admin.SimpleListFilter):
    """By how recently the value changed, relative to each namespace's revision; uses (namespace, changed_at)."""

    title = "changed at"
    parameter_name = "changed"
    WINDOWS = {"current": 1, "10": 10, "100": 100}

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        """Fixed windows of revisions."""
        return [
            ("current", "at the current revision"),
            ("10", "in the last 10 revisions"),
            ("100", "in the last 100 revisions"),
            ("older", "more than 100 revisions ago"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """One indexed range per namespace, OR-ed."""
        if self.value() not in (*self.WINDOWS, "older"):
            return queryset
        namespaces = Namespace.objects.all()
        selected = _selected_namespace(request)
        if selected is not None:
            namespaces = namespaces.filter(id=selected)
        condition = Q(pk__in=[])
        for ns_id, revision in namespaces.values_list("id", "revision"):
            if self.value() == "older":
                condition |= Q(namespace_id=ns_id, changed_at__lte=revision - 100)
            else:
                condition |= Q(namespace_id=ns_id, changed_at__gt=revision - self.WINDOWS[self.value()])
        return queryset.filter(condition)


# -- shared change-page pieces ------------------------------------------------------------


def _value_preview(model: type[Memo] | type[InputValue], obj: Memo | InputValue) -> str:
    """The decoded value rendered briefly (the stored preview if it is too large to decode here), with its size."""
    size, blob = (
        model.objects.filter(pk=obj.pk)
        .annotate(size=Length("value"))
        .annotate(small=Case(When(size__lte=DECODE_LIMIT_BYTES, then=F("value")), default=None))
        .values_list("size", "small")
        .get()
    )
    if size is None:
        return "(no value)"
    if blob is None:
        return f"{obj.preview}  ({size:,} bytes, too large to decode here)"
    try:
        return f"{preview(decode(blob), limit=PREVIEW_CHARS)}  ({size:,} bytes)"
    except (ValueError, TypeError) as exc:  # e.g. a custom codec this process has not registered
        return f"{obj.preview}  ({size:,} bytes; cannot decode here: {exc})"


def _dependents(namespace_id: int, key_digest: str) -> str:
    """Links to the memos that read this key (edges with its digest, through runtime_edge_dependents)."""
    rows = list(
        MemoDependency.objects.filter(namespace_id=namespace_id, key_digest=key_digest)
        .order_by("memo_id")
        .values_list("memo_id", "memo__label")[: LINKS_SHOWN + 1]
    )
    if not rows:
        return "none"
    links = format_html_join(
        "", '<li><a href="{}">{}</a></li>',
        ((reverse("admin:runtime_memo_change", args=[memo_id]), label) for memo_id, label in rows[:LINKS_SHOWN]),
    )
    more = "" if len(rows) <= LINKS_SHOWN else f"… and more (showing the first {LINKS_SHOWN})"
    return format_html("<ul>{}</ul>{}", links, more)


# -- admins -------------------------------------------------------------------------------


@admin.register(Memo)
class MemoAdmin(OwnerColumn, ReadOnlyAdmin):
    """Memo entries: filter, search by call prefix, inspect value and dependencies, invalidate."""

    list_display = ("call", "owner", "value_text", "changed", "verified_at", "execution_time", "written_at")
    list_display_links = ("call",)
    list_select_related = ("namespace",)
    list_filter = (NamespaceFilter, FunctionFilter, CodeVersionFilter, ChangedAtFilter)
    sortable_by = ("changed",)
    search_fields = ("label",)
    search_help_text = "Calls whose text starts with this (case-sensitive), e.g. double(rt, 1 — indexed."
    actions = ("invalidate", "invalidate_with_dependents")
    fieldsets = (
        (None, {"fields": ("label", "owner", "namespace", "function", "args_key", "key_digest")}),
        ("Value", {"fields": ("value_preview", "value_digest")}),
        ("Revisions", {"fields": ("changed_at", "executed_at", "verified_at", "namespace_revision")}),
        ("Execution", {"fields": ("code_version", "execution_time", "written_at")}),
        ("Dependencies", {"fields": ("maintained", "input_count", "dependencies_in_order", "dependents")}),
    )
    readonly_fields = [f for _, options in fieldsets for f in options["fields"]]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Never read the value column for lists or the change page's fields; join the verification row."""
        return super().get_queryset(request).defer("value").with_verified_at()

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """Prefix search on the call text through the label index (a substring search would scan every row)."""
        term = search_term.strip()
        return (filter_label_prefix(queryset, term) if term else queryset), False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        """Only invalidation: the site-wide delete action would bypass the namespace lock."""
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The delete permission enables the invalidate action, never the per-object delete page."""
        return obj is None and admin.ModelAdmin.has_delete_permission(self, request)

    @admin.action(description="Invalidate selected memos (they re-execute on next use)", permissions=["delete"])
    def invalidate(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Delete the memos and their edges in locked batches.

        Memos that read them and are verified at the current revision are still served
        until the next input change, then re-execute; ``invalidate_with_dependents`` does not wait.
        """
        self._invalidate(request, queryset, with_dependents=False)

    @admin.action(description="Invalidate selected memos and every memo that read them", permissions=["delete"])
    def invalidate_with_dependents(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Delete the memos and, transitively, their dependents: all re-execute on next use."""
        self._invalidate(request, queryset, with_dependents=True)

    def _invalidate(self, request: HttpRequest, queryset: QuerySet, with_dependents: bool) -> None:
        memos, edges = invalidate_memos(queryset, with_dependents=with_dependents)
        self.message_user(request, f"Invalidated {memos:,} memos ({edges:,} dependency edges removed).",
                          messages.SUCCESS)

    @admin.display(description="changed", ordering="changed_at")
    def changed(self, obj: Memo) -> int:
        """The revision its value last changed at."""
        return obj.changed_at

    @admin.display(description="call", ordering="label")
    def call(self, obj: Memo) -> SafeString:
        """The call's text, clipped to fit the list (whole in its tooltip and on the change page)."""
        return _clipped(obj.label, 60)

    @admin.display(description="value")
    def value_text(self, obj: Memo) -> SafeString:
        """The stored preview, clipped to fit the list."""
        return _clipped(obj.preview, 26)

    @admin.display(description="execution time", ordering="duration")
    def execution_time(self, obj: Memo) -> str:
        """How long the last execution took, rounded."""
        return _milliseconds(obj.duration)

    @admin.display(description="verified")
    def verified_at(self, obj: Memo) -> int:
        """The last revision the memo was known current at (its execution, or a later re-verification)."""
        return obj.verified_at  # type: ignore[attr-defined]  # annotated by get_queryset

    @admin.display(description="namespace revision")
    def namespace_revision(self, obj: Memo) -> int:
        """The namespace's current revision, to compare with verified_at."""
        return obj.namespace.revision

    @admin.display(description="value")
    def value_preview(self, obj: Memo) -> str:
        """The decoded value, rendered briefly (numbers, short lists, array shape, dtype and first values)."""
        return _value_preview(Memo, obj)

    @admin.display(description="dependencies (in read order)")
    def dependencies_in_order(self, obj: Memo) -> str:
        """What the memo read, in order: derived calls link to their memo, inputs to their input row.

        A maintained memo numbers its derived and input dependencies apart (it may have many
        inputs): its derived calls come first, then the first inputs it read, through the
        (memo, kind, position) index; at most ``LINKS_SHOWN`` either way.
        """
        order = ("kind", "position") if obj.maintained else ("position",)
        edges = list(
            MemoDependency.objects.filter(memo_id=obj.pk)
            .order_by(*order)
            .values_list("position", "kind", "function", "args_key", "key_digest")[: LINKS_SHOWN + 1]
        )
        if not edges:
            return "none"
        digests = {kind: [e[4] for e in edges if e[1] == kind] for kind in ("derived", "input")}
        targets = {
            ("derived", digest): reverse("admin:runtime_memo_change", args=[row_id])
            for digest, row_id in Memo.objects.filter(namespace_id=obj.namespace_id, key_digest__in=digests["derived"])
            .values_list("key_digest", "id")
        }
        targets.update({
            ("input", digest): reverse("admin:runtime_inputvalue_change", args=[row_id])
            for digest, row_id in InputValue.objects.filter(
                namespace_id=obj.namespace_id, key_digest__in=digests["input"]
            ).values_list("key_digest", "id")
        })
        items = []
        for position, kind, function, args_key, digest in edges[:LINKS_SHOWN]:
            text = f"{position}. {kind} {_call_text(function, args_key)}"
            url = targets.get((kind, digest))
            items.append(format_html('<li><a href="{}">{}</a></li>', url, text) if url
                         else format_html("<li>{} (no row: it re-executes on next use)</li>", text))
        more = "" if len(edges) <= LINKS_SHOWN else f"… and {obj.dependencies.count() - LINKS_SHOWN:,} more"
        return format_html("<ul>{}</ul>{}", SafeString("".join(items)), more)

    @admin.display(description="dependents (memos that read this one)")
    def dependents(self, obj: Memo) -> str:
        """Links to the memos whose dependencies include this call."""
        return _dependents(obj.namespace_id, obj.key_digest)


@admin.register(InputValue)
class InputValueAdmin(OwnerColumn, ReadOnlyAdmin):
    """Input values: filter by namespace, function and tombstones; see the memos that read each."""

    list_display = ("call", "owner", "value_text", "changed_at", "deleted", "updated_at")
    list_select_related = ("namespace",)
    list_filter = (NamespaceFilter, FunctionFilter, "deleted")
    sortable_by = ("changed_at",)
    fieldsets = (
        (None, {"fields": ("call", "owner", "namespace", "function", "args_key", "key_digest")}),
        ("Value", {"fields": ("value_preview", "deleted", "changed_at", "updated_at")}),
        ("Dependents", {"fields": ("dependents",)}),
    )
    readonly_fields = [f for _, options in fieldsets for f in options["fields"]]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Never read the value column for lists or the change page's fields."""
        return super().get_queryset(request).defer("value")

    @admin.display(description="call")
    def call(self, obj: InputValue) -> str:
        """The input's keys as the call reads, e.g. ``sample(rt, 1)``."""
        return _call_text(obj.function, obj.args_key)

    @admin.display(description="value")
    def value_text(self, obj: InputValue) -> SafeString:
        """The stored preview, clipped to fit the list."""
        return _clipped(obj.preview, 48)

    @admin.display(description="value")
    def value_preview(self, obj: InputValue) -> str:
        """The decoded value, rendered briefly, with its size."""
        return _value_preview(InputValue, obj)

    @admin.display(description="dependents (memos that read this input)")
    def dependents(self, obj: InputValue) -> str:
        """Links to the memos whose dependencies include this input."""
        return _dependents(obj.namespace_id, obj.key_digest)


@admin.register(RevisionLog)
class RevisionLogAdmin(OwnerColumn, ReadOnlyAdmin):
    """The input changes, newest first: which revision each started, and which process made it."""

    list_display = ("revision", "owner", "action", "args", "process", "created_at")
    list_select_related = ("namespace",)
    list_filter = (NamespaceFilter, "action")
    sortable_by = ()


def _capped_count(model: type[Memo] | type[InputValue]) -> RawSQL:
    """Per-namespace row count that stops at ``COUNT_CAP`` + 1 (an index range scan, not a table scan)."""
    qn = connection.ops.quote_name
    table, namespaces = qn(model._meta.db_table), qn(Namespace._meta.db_table)
    return RawSQL(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} c WHERE c.namespace_id = {namespaces}.id LIMIT %s) capped",
        (COUNT_CAP + 1,),
        output_field=IntegerField(),
    )


def _count_text(count: int) -> str:
    return f"more than {COUNT_CAP:,}" if count > COUNT_CAP else f"{count:,}"


def namespace_owners(names: Sequence[str]) -> dict[str, SafeString]:
    """Links to the owners of the named namespaces, from each ``MEMO_STORE_NAMESPACE_OWNERS`` function (first wins)."""
    return {name: format_html('<a href="{}">{}</a>', url, text) for name, (text, url) in _owner_pairs(names).items()}


class NamespaceChangeList(ChangeList):
    """The namespace list, with the owners of a page's namespaces found together."""

    def get_results(self, request: HttpRequest) -> None:
        """The page's namespaces, each with ``owner_link`` (empty if no app owns it)."""
        super().get_results(request)
        owners = namespace_owners([namespace.name for namespace in self.result_list])
        for namespace in self.result_list:
            namespace.owner_link = owners.get(namespace.name, "")


@admin.register(Namespace)
class NamespaceAdmin(ReadOnlyAdmin):
    """Namespaces with their owner, revision and (capped) memo and input counts, linking to their memos."""

    list_display = ("name", "owner", "revision", "memos", "inputs", "created_at", "deleted_at")
    # The namespace table is small, and Django's plain count leaves the count annotations out.
    paginator = Paginator
    list_filter = (("deleted_at", admin.EmptyFieldListFilter),)
    search_fields = ("=name",)
    fields = ("name", "owner", "revision", "memos", "inputs", "created_at", "deleted_at")
    readonly_fields = fields

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        """A change list that finds the owners of a page's namespaces in one go."""
        return NamespaceChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Annotate each namespace with capped memo and input counts (one query for the page)."""
        return super().get_queryset(request).annotate(memo_count=_capped_count(Memo),
                                                      input_count=_capped_count(InputValue))

    @admin.display(description="owner")
    def owner(self, obj: Namespace) -> SafeString | str:
        """A link to what owns the namespace (see the module docstring), else a dash."""
        link = getattr(obj, "owner_link", None)
        if link is None:  # the change page: one namespace
            link = namespace_owners([obj.name]).get(obj.name, "")
        return link or "–"

    @admin.display(description="memos")
    def memos(self, obj: Namespace) -> SafeString:
        """How many memos (capped), linking to the namespace's memo list."""
        url = reverse("admin:runtime_memo_changelist") + f"?namespace__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _count_text(obj.memo_count))

    @admin.display(description="inputs")
    def inputs(self, obj: Namespace) -> SafeString:
        """How many inputs (capped), linking to the namespace's input list."""
        url = reverse("admin:runtime_inputvalue_changelist") + f"?namespace__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _count_text(obj.input_count))
