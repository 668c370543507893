"""Admin pages to inspect datasets, their batches and training records (changes go through services).

Datasets link to their runtime namespace's memos and inputs in the memo-store admin, and
the namespace list links back to each namespace's dataset (``namespace_datasets``, which
``settings.MEMO_STORE_NAMESPACE_OWNERS`` names).  Batches and records are written only by
the services (a deleted batch stays listed, marked with when it was deleted), so the admin
cannot add, change or delete them; deleting a dataset goes
through ``services.dataset_delete``, which also retires its namespace.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from runtime.db.selectors import namespace_id_subquery

from . import services
from .models import Batch, BatchRun, Dataset, TrainingState
from .modes import Mode


def _link(url_name: str, text: Any, query: str = "", **kwargs: Any) -> SafeString:
    """An admin link to ``url_name`` (with ``?query`` if given)."""
    url = reverse(url_name, kwargs=kwargs or None)
    return format_html('<a href="{}">{}</a>', f"{url}?{query}" if query else url, text)


class CommaListField(forms.CharField):
    """A list of names edited as comma-separated text (``x1, x2``) instead of JSON."""

    def prepare_value(self, value: Any) -> Any:
        """A list shows as its names joined by commas."""
        return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value

    def to_python(self, value: Any) -> list[str]:
        """The names, spaces around each dropped, empty ones left out."""
        text = super().to_python(value)
        return [name.strip() for name in text.split(",") if name.strip()]


class DatasetAdminForm(forms.ModelForm):
    """Features as comma-separated text and modes as checkboxes (the model stores both as JSON lists)."""

    features = CommaListField(help_text="Feature column names in model order, comma-separated, e.g. x1, x2.")
    modes = forms.MultipleChoiceField(choices=Mode.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Dataset
        fields = "__all__"


def _plural(count: int, one: str, many: str) -> str:
    """``1 training record``, ``3 training records``."""
    return f"{count:,} {one if count == 1 else many}"


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    """Datasets with their owner and settings; links to batches, records and the namespace's memos."""

    form = DatasetAdminForm
    list_display = ["name", "owner", "target", "mode_list", "revision", "batches", "runs", "memos", "created_at"]
    list_filter = ["owner"]
    list_select_related = ["owner"]
    search_fields = ["name"]
    readonly_fields = ["namespace", "namespace_link", "revision", "batches", "runs", "memos", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dataset]:
        """Datasets with their live batch and record counts and their namespace's id (one query per page)."""
        return super().get_queryset(request).annotate(
            batch_count=Count("batches", filter=Q(batches__deleted_at__isnull=True), distinct=True),
            run_count=Count("runs", distinct=True),
            namespace_id=namespace_id_subquery(name=OuterRef("namespace")),
        )

    @admin.display(description="modes")
    def mode_list(self, obj: Dataset) -> str:
        """The modes it trains, as words."""
        return ", ".join(obj.modes)

    @admin.display(description="batches", ordering="batch_count")
    def batches(self, obj: Dataset) -> SafeString:
        """The live (not deleted) batch count, linking to the dataset's batches (deleted ones too)."""
        return _link("admin:regression_batch_changelist", obj.batch_count, f"dataset__id__exact={obj.pk}")

    @admin.display(description="training records", ordering="run_count")
    def runs(self, obj: Dataset) -> SafeString:
        """How many training records (one per revision and mode), linking to them."""
        return _link("admin:regression_batchrun_changelist", _plural(obj.run_count, "training record",
                                                                     "training records"), f"dataset__id__exact={obj.pk}")

    @admin.display(description="memos")
    def memos(self, obj: Dataset) -> SafeString | str:
        """A link to the memos of the dataset's runtime namespace (none before its first batch)."""
        if obj.namespace_id is None:
            return "–"
        return _link("admin:runtime_memo_changelist", "memos", f"namespace__id__exact={obj.namespace_id}")

    @admin.display(description="namespace in the memo store")
    def namespace_link(self, obj: Dataset) -> SafeString | str:
        """The namespace's admin page, with its revision and counts."""
        if obj.namespace_id is None:
            return "–"
        return _link("admin:runtime_namespace_change", obj.namespace, object_id=obj.namespace_id)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], Any]:
        """Deleting a dataset takes its batches and records along, though they cannot be deleted one by one."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        cascaded = {str(Batch._meta.verbose_name), str(BatchRun._meta.verbose_name)}
        return deleted, counts, set(perms_needed) - cascaded, protected

    def delete_model(self, request: HttpRequest, obj: Dataset) -> None:
        """Delete through the service, which also retires the runtime namespace."""
        services.dataset_delete(dataset=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        """Delete each through the service."""
        for dataset in queryset:
            services.dataset_delete(dataset=dataset)


class ServiceWrittenAdmin(admin.ModelAdmin):
    """Rows only the services write: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Batches arrive through uploads; records through training."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Batches change through the services (replace, delete); records are what training measured."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Removing one would leave the runtime inputs and the records disagreeing."""
        return False


@admin.register(Batch)
class BatchAdmin(ServiceWrittenAdmin):
    """Batches (their numbers are runtime inputs; deleted ones stay, marked), linking to their records."""

    list_display = ["number", "dataset", "rows", "source", "revision", "records", "hash", "created_at", "changed"]
    list_filter = ["dataset", ("deleted_at", admin.EmptyFieldListFilter)]
    list_select_related = ["dataset"]

    class Media:
        css = {"all": ["runtime/admin.css"]}  # one line per row

    @admin.display(description="records")
    def records(self, obj: Batch) -> SafeString:
        """A link to the training records whose newest batch is this one (the list is called Training records)."""
        return _link("admin:regression_batchrun_changelist", "records", f"batch__id__exact={obj.pk}")

    @admin.display(description="content hash")
    def hash(self, obj: Batch) -> SafeString:
        """The first 8 hex digits of the content hash (all of it in the tooltip)."""
        return format_html('<span title="{}">{}…</span>', obj.content_hash, obj.content_hash[:8])

    @admin.display(description="replaced or deleted")
    def changed(self, obj: Batch) -> str:
        """When it was deleted or last replaced (its full timestamps are on its page)."""
        if obj.deleted_at is not None:
            return f"deleted {formats.localize(timezone.localtime(obj.deleted_at))}"
        if obj.replaced_at is not None:
            return f"replaced {formats.localize(timezone.localtime(obj.replaced_at))}"
        return "–"


@admin.register(BatchRun)
class BatchRunAdmin(ServiceWrittenAdmin):
    """One model per (data revision, mode) and what bringing it up to date cost."""

    list_display = ["revision", "dataset", "batch_number", "mode_name", "rows_total", "wall_time", "iterations",
                    "converged", "executed", "reused", "loss_text"]
    list_filter = ["dataset", "mode", "converged", "diverged"]
    list_select_related = ["dataset", "batch"]

    class Media:
        css = {"all": ["runtime/admin.css"]}  # one line per row

    @admin.display(description="mode", ordering="mode")
    def mode_name(self, obj: BatchRun) -> str:
        """The mode's name (its long description is in the filter)."""
        return obj.mode

    @admin.display(description="batch", ordering="batch__number")
    def batch_number(self, obj: BatchRun) -> int:
        """The newest batch number in the data (the dataset is its own column)."""
        return obj.batch.number

    @admin.display(description="wall time", ordering="wall_ms")
    def wall_time(self, obj: BatchRun) -> str:
        """Milliseconds the update took, rounded to two decimals."""
        return f"{obj.wall_ms:,.2f} ms"

    @admin.display(description="loss", ordering="loss")
    def loss_text(self, obj: BatchRun) -> str:
        """The loss to five significant digits."""
        return "–" if obj.loss is None else f"{obj.loss:.5g}"


def namespace_datasets(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The memo-store admin's owners of the named namespaces: each one's dataset and its admin page (one query)."""
    datasets = Dataset.objects.filter(namespace__in=names).values_list("namespace", "pk", "name")
    return {
        namespace: (name, reverse("admin:regression_dataset_change", args=[pk])) for namespace, pk, name in datasets
    }


@admin.register(TrainingState)
class TrainingStateAdmin(admin.ModelAdmin):
    """Background training per (dataset, mode): queued, running (with progress and lease), done or failed."""

    list_display = ["dataset", "mode", "status", "requested", "covered", "iteration", "loss", "attempts",
                    "lease_owner", "lease_expires", "heartbeat_at"]
    list_filter = ["status", "mode"]
    readonly_fields = [field.name for field in TrainingState._meta.fields]
