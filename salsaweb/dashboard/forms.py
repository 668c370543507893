"""The dashboard's forms: typed fields only; the rules are the regression services'."""
from __future__ import annotations

from typing import Any

from django import forms

from salsaweb.regression.modes import DEFAULT_MODES, Mode


class DatasetForm(forms.Form):
    """Name, feature columns (comma-separated), target column, modes and training settings."""

    name = forms.CharField(max_length=200, strip=False)
    features = forms.CharField(max_length=2000, help_text="Comma-separated column names, e.g. x1, x2",
                               widget=forms.TextInput(attrs={"placeholder": "x1, x2"}))
    target = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"placeholder": "y"}))
    modes = forms.MultipleChoiceField(choices=Mode.choices, initial=list(DEFAULT_MODES),
                                      widget=forms.CheckboxSelectMultiple)
    learning_rate = forms.FloatField(required=False, help_text="Empty (and momentum empty): conjugate gradients with exact line search.")
    momentum = forms.FloatField(required=False, help_text="Empty: auto.")
    max_iterations = forms.IntegerField(initial=100, min_value=1, max_value=100_000)
    tolerance = forms.FloatField(initial=1e-6, min_value=0.0)
    standardize = forms.BooleanField(required=False, initial=True, help_text="Descend in standardized coordinates.")
    warm_start = forms.BooleanField(required=False, help_text="Start each update from the last model.")
    window = forms.IntegerField(required=False, min_value=1, help_text="Train on the last K batches; empty: all.")
    l2 = forms.FloatField(required=False, min_value=0.0, initial=0.0,
                          help_text="Ridge penalty on the weights; empty or 0: none.")

    def clean_features(self) -> list[str]:
        """The comma-separated names as a list (spaces around each name dropped)."""
        return [name.strip() for name in self.cleaned_data["features"].split(",") if name.strip()]

    def clean_target(self) -> str:
        """The target name without surrounding spaces."""
        return self.cleaned_data["target"].strip()

    def clean_l2(self) -> float:
        """No penalty when left empty."""
        value = self.cleaned_data["l2"]
        return 0.0 if value is None else value

    def service_arguments(self) -> dict[str, Any]:
        """The cleaned values as ``services.dataset_create`` keywords."""
        return dict(self.cleaned_data)


class BatchReplaceForm(forms.Form):
    """A CSV file whose rows replace a batch's (same rules as an upload)."""

    file = forms.FileField(allow_empty_file=True)


class SettingsForm(forms.Form):
    """A dataset's training settings (the columns are fixed); the rules are ``services.dataset_update``'s."""

    modes = forms.MultipleChoiceField(choices=Mode.choices, widget=forms.CheckboxSelectMultiple)
    learning_rate = forms.FloatField(required=False, help_text="Empty (and momentum empty): conjugate gradients with exact line search.")
    momentum = forms.FloatField(required=False, help_text="Empty: auto.")
    max_iterations = forms.IntegerField(min_value=1, max_value=100_000)
    tolerance = forms.FloatField(min_value=0.0)
    standardize = forms.BooleanField(required=False, help_text="Descend in standardized coordinates.")
    warm_start = forms.BooleanField(required=False, help_text="Start each update from the last model.")
    window = forms.IntegerField(required=False, min_value=1, help_text="Train on the last K batches; empty: all.")
    l2 = forms.FloatField(min_value=0.0, help_text="Ridge penalty on the weights (0: none).")

    @classmethod
    def of(cls, dataset: Any) -> SettingsForm:
        """The unbound form showing the dataset's current settings."""
        return cls(initial={name: getattr(dataset, name) for name in cls.base_fields})

    def service_arguments(self) -> dict[str, Any]:
        """The cleaned values as ``services.dataset_update`` keywords."""
        return dict(self.cleaned_data)
