"""Dashboard pages: thin views over the regression selectors and services; charts load from the API."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from salsaweb.regression import scheduling, selectors, services
from salsaweb.services import client_address, login_wait
from salsaweb.regression.models import Batch, Dataset
from salsaweb.regression.parsing import BatchError

from .forms import BatchReplaceForm, DatasetForm, SettingsForm

#: Datasets per page of the list.
DATASETS_PER_PAGE = 50
#: Batches per page of a dataset's batch list (the page stays small with thousands of batches).
BATCHES_PER_PAGE = 50


class SignInView(LoginView):
    """Django's sign-in page, answering 429 with Retry-After while the username or address is locked."""

    template_name = "dashboard/login.html"

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        """Refuse the attempt unchecked while locked; otherwise sign in as Django does (failures are counted)."""
        wait = login_wait(username=request.POST.get("username", ""), address=client_address(request))
        if not wait:
            return super().post(request, *args, **kwargs)
        response = self.render_to_response(
            self.get_context_data(form=self.form_class(request), locked_seconds=wait), status=429,
        )
        response["Retry-After"] = str(wait)
        return response


@login_required
@require_http_methods(["GET", "POST"])
def dataset_list(request: HttpRequest) -> HttpResponse:
    """The user's datasets with size, data version and state, and the form to create one."""
    form = DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.dataset_create(owner=request.user, **form.service_arguments())
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, f"Created {dataset.name}: upload CSV files to train it.")
            return redirect("dashboard:dataset", pk=dataset.pk)
    page = Paginator(selectors.datasets_visible(user=request.user), DATASETS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    states = selectors.dataset_states(datasets=list(page))
    rows = [(dataset, states[dataset.pk]) for dataset in page]
    return render(request, "dashboard/dataset_list.html", {"page": page, "rows": rows, "form": form},
                  status=400 if form.errors else 200)


def _visible(request: HttpRequest, pk: int) -> Dataset:
    """The URL's dataset if the user may see it (else 404)."""
    return get_object_or_404(selectors.datasets_visible(user=request.user), pk=pk)


def _detail(request: HttpRequest, dataset: Dataset, settings_form: SettingsForm | None = None) -> HttpResponse:
    """Render a dataset's page (with a bound settings form and 400 when it has errors)."""
    api = {
        name: reverse(f"api:dataset-{name}", kwargs={"dataset_id": dataset.pk})
        for name in ("batches", "model", "predict", "runs", "curves", "training")
    }
    api["dataset"] = reverse("api:dataset-detail", kwargs={"dataset_id": dataset.pk})
    config = {"id": dataset.pk, "name": dataset.name, "features": dataset.features, "target": dataset.target,
              "modes": dataset.modes, "api": api, "maxUploadBytes": settings.SALSAWEB_MAX_UPLOAD_BYTES}
    form = settings_form or SettingsForm.of(dataset)
    batches = Paginator(selectors.batch_list(dataset=dataset), BATCHES_PER_PAGE).get_page(request.GET.get("batches"))
    return render(request, "dashboard/dataset_detail.html", {
        "dataset": dataset, "config": config, "batches": batches, "settings_form": form,
    }, status=400 if form.errors else 200)


@login_required
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A dataset's page: settings, batches, upload, models, prediction and charts (dashboard.js fills in the API's)."""
    return _detail(request, _visible(request, pk))


@login_required
@require_POST
def dataset_settings(request: HttpRequest, pk: int) -> HttpResponse:
    """Change the training settings (a new revision; retraining queued), or show the page with the field errors."""
    dataset = _visible(request, pk)
    form = SettingsForm(request.POST)
    if form.is_valid():
        try:
            _, states = scheduling.dataset_reconfigure(dataset=dataset, **form.service_arguments())
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, "Settings saved; retraining queued." if states else "Settings saved.")
            return redirect("dashboard:dataset", pk=dataset.pk)
    return _detail(request, _visible(request, pk), form)


@login_required
@require_POST
def dataset_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a dataset (with its batches, records and memos) and go back to the list."""
    dataset = _visible(request, pk)
    services.dataset_delete(dataset=dataset)
    messages.success(request, f"Deleted {dataset.name}.")
    return redirect("dashboard:datasets")


@login_required
@require_POST
def batch_delete(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Delete one batch (its rows leave every model; retraining is queued) and go back to the dataset."""
    dataset = _visible(request, pk)
    try:
        scheduling.batch_withdraw(dataset=dataset, number=number)
    except Batch.DoesNotExist:
        raise Http404(f"no batch #{number}") from None
    messages.success(request, f"Deleted batch #{number}: its rows leave every model.")
    return redirect("dashboard:dataset", pk=dataset.pk)


@login_required
@require_POST
def batch_replace(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Replace one batch's rows with an uploaded CSV file; a rejected file changes nothing and says why."""
    dataset = _visible(request, pk)
    form = BatchReplaceForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, f"Batch #{number} not replaced: choose a CSV file.")
        return redirect("dashboard:dataset", pk=dataset.pk)
    upload = form.cleaned_data["file"]
    source = (upload.name or "upload.csv")[-300:]
    limit = settings.SALSAWEB_MAX_UPLOAD_BYTES
    if upload.size > limit:
        messages.error(request, f"Batch #{number} not replaced: {source} is larger than the upload limit of "
                                f"{limit:,} bytes.")
        return redirect("dashboard:dataset", pk=dataset.pk)
    try:
        _, states = scheduling.batch_resubmit(dataset=dataset, number=number, content=upload.read(), source=source)
    except Batch.DoesNotExist:
        raise Http404(f"no batch #{number}") from None
    except (BatchError, services.DuplicateBatch) as error:
        messages.error(request, f"Batch #{number} not replaced: {error}")
    else:
        done = "replaced; retraining queued" if states else "unchanged (the same numbers)"
        messages.success(request, f"Batch #{number} {done}.")
    return redirect("dashboard:dataset", pk=dataset.pk)
