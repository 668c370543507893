"""Admin pages to inspect datasets, their batches and training records (changes go through services)."""
from django.contrib import admin

from .models import Batch, BatchRun, Dataset


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    """Datasets with their settings; the namespace names the dataset's runtime store."""

    list_display = ["name", "target", "modes", "learning_rate", "max_iterations", "standardize", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["namespace", "created_at"]


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    """Accepted batches (append-only: their numbers are runtime inputs)."""

    list_display = ["dataset", "number", "rows", "source", "content_hash", "created_at"]
    list_filter = ["dataset"]
    readonly_fields = ["dataset", "number", "rows", "content_hash", "source", "created_at"]


@admin.register(BatchRun)
class BatchRunAdmin(admin.ModelAdmin):
    """One model per (batch, mode) and what bringing it up to date cost."""

    list_display = [
        "dataset", "batch", "mode", "rows_total", "wall_ms", "iterations", "converged", "executed", "reused", "loss",
    ]
    list_filter = ["dataset", "mode", "converged", "diverged"]
    readonly_fields = [field.name for field in BatchRun._meta.fields]
