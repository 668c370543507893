"""API views: thin HTTP adapters over the regression selectors (reads), services and scheduling (writes).

Every dataset-scoped view finds the dataset among those the user may see, so another
user's dataset answers 404 exactly like a missing one.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import parse_header_parameters
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotFound, Throttled, ValidationError
from rest_framework.parsers import FormParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from runtime.db.selectors import memo_none
from salsaweb.accounts import selectors as account_selectors
from salsaweb.accounts import services as account_services
from salsaweb.converters import IdConverter
from salsaweb.regression import scheduling, selectors, services
from salsaweb.regression.models import Batch, BatchRun, Dataset
from salsaweb.services import client_address, login_wait

from .exceptions import DuplicateUpload, InvalidCredentials, NoSuchRevision, NotTrained, UploadTooLarge
from .filters import DatasetFilter, MemoFilter, RunFilter, list_parameters, query_parameters_check
from .pagination import CurvePagination
from .parsers import CSVBodyParser, LimitedJSONParser, LimitedMultiPartParser
from .permissions import IsOwnerOrStaff
from .serializers import (
    JSON_ROWS_SOURCE,
    AccountTokenSerializer,
    BatchAcceptedSerializer,
    BatchFileSerializer,
    BatchRowsSerializer,
    BatchSerializer,
    CurveSerializer,
    DatasetSerializer,
    GraphSerializer,
    MemoSerializer,
    ModelQuerySerializer,
    PredictionSerializer,
    PredictRequestSerializer,
    RunSerializer,
    TokenRequestSerializer,
    TokenSerializer,
    TrainedModelSerializer,
    TrainingSerializer,
)
from .schema import error_responses
from .throttling import WriteRateThrottle

#: The error codes of each kind of operation (each operation's responses list them; ``schema.error_responses``).
READ_CODES = ("invalid", "not_found")
BODY_CODES = ("invalid", "parse_error", "too_large", "unsupported_media_type", "throttled")
WRITE_CODES = (*BODY_CODES, "not_found")
BATCH_CODES = (*WRITE_CODES, "invalid_csv", "invalid_rows", "duplicate_batch")
MODEL_CODES = ("no_such_revision", "not_trained")
#: Longest batch source name stored (Batch.source).
SOURCE_MAX_CHARS = 300


class QueryParametersChecked:
    """Refuses query parameters the endpoint does not take (400 ``invalid`` naming them), after authentication."""

    request: Request

    def query_parameters(self) -> set[str]:
        """The query parameters this request's method takes: none unless a view says otherwise."""
        return set()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """DRF's checks (authentication, permissions, throttles), then the query parameters."""
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        query_parameters_check(request, self.query_parameters())


class ListQueryParameters(QueryParametersChecked):
    """A list on GET: its filterset's and paginator's parameters."""

    def query_parameters(self) -> set[str]:
        """Filters and ``page``/``page_size`` on GET, nothing on other methods."""
        return list_parameters(self) if self.request.method == "GET" else set()


@extend_schema(
    request=TokenRequestSerializer, auth=[],
    responses={200: TokenSerializer,
               **error_responses("invalid", "parse_error", "invalid_credentials", "throttled", authenticated=False)},
    summary="Exchange a username and password for an API token",
    description="A wrong username or password answers 401 `invalid_credentials`. After too many failed "
                "attempts for one username or from one address (SALSAWEB_LOGIN_*), every attempt answers "
                "429 `throttled` with `Retry-After` until the window ends.",
)
class TokenView(ObtainAuthToken):
    """``POST {"username", "password"}`` -> ``{"token"}``; send it as ``Authorization: Token <token>``."""

    authentication_classes: list[Any] = []
    throttle_classes = [WriteRateThrottle]
    serializer_class = TokenRequestSerializer
    # ObtainAuthToken's own parsers have neither the size nor the nesting limit; forms stay accepted.
    parser_classes = [LimitedJSONParser, FormParser, LimitedMultiPartParser]

    def get_authenticate_header(self, request: Request) -> str:
        """401 answers name the scheme the token is for (DRF would turn a 401 without one into 403)."""
        return "Token"

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The user's token; 401 for wrong credentials, 429 while the username or address is locked."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username, password = serializer.validated_data["username"], serializer.validated_data["password"]
        wait = login_wait(username=username, address=client_address(request))
        if wait:
            raise Throttled(wait=wait, detail="Too many failed sign-ins for this username or from this address.")
        user = authenticate(request=request, username=username, password=password)
        if user is None:
            raise InvalidCredentials()
        return Response({"token": Token.objects.get_or_create(user=user)[0].key})


class AccountTokenView(QueryParametersChecked, generics.GenericAPIView):
    """The signed-in user's own API token: read it, or replace it (the dashboard's API token page does the same)."""

    serializer_class = AccountTokenSerializer
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Your API token (null before you have one)",
                   responses={200: AccountTokenSerializer, **error_responses("invalid")})
    def get(self, request: Request) -> Response:
        """The token and when it was created."""
        return Response(_token_body(account_selectors.token_get(user=request.user)))

    @extend_schema(summary="Replace your API token: the old one stops working at once", request=None,
                   responses={200: AccountTokenSerializer, **error_responses("invalid", "throttled")})
    def post(self, request: Request) -> Response:
        """A new token for the user, through the accounts service."""
        return Response(_token_body(account_services.token_reset(user=request.user)))


def _token_body(token: Token | None) -> Any:
    """A token (or None) as the API shows it."""
    return AccountTokenSerializer({"token": token.key if token else None,
                                   "created": token.created if token else None}).data


class DatasetScopedMixin(QueryParametersChecked):
    """For views under /api/datasets/{dataset_id}/: the dataset, if the user may see it (else 404)."""

    permission_classes = [IsAuthenticated, IsOwnerOrStaff]
    request: Request
    kwargs: dict[str, Any]

    def get_dataset(self) -> Dataset:
        """The URL's dataset, looked up once per request among the user's visible datasets."""
        if not hasattr(self, "_dataset"):
            dataset = get_object_or_404(selectors.datasets_visible(user=self.request.user),
                                        pk=self.kwargs["dataset_id"])
            self.check_object_permissions(self.request, dataset)  # type: ignore[attr-defined]
            self._dataset = dataset
        return self._dataset


@extend_schema_view(
    list=extend_schema(summary="List your datasets (staff: all)",
                       responses={200: DatasetSerializer(many=True), **error_responses(*READ_CODES)}),
    create=extend_schema(summary="Create a dataset (201 with its address in Location)",
                         responses={201: DatasetSerializer, **error_responses(*BODY_CODES)}),
    retrieve=extend_schema(summary="A dataset with its size, revision and state",
                           responses={200: DatasetSerializer, **error_responses(*READ_CODES)}),
    partial_update=extend_schema(
        summary="Change training settings: a new revision, and every mode retrained",
        description=(
            "Only training settings can change (modes, learning_rate, momentum, max_iterations, tolerance, "
            "standardize, initial_weights, warm_start, window, l2); the same validation as creating, and a 400 "
            "naming each bad field changes nothing. Settings equal to the current ones start no revision."
        ),
        responses={200: DatasetSerializer, **error_responses(*WRITE_CODES)},
    ),
    destroy=extend_schema(summary="Delete a dataset, its batches, records and memos",
                          responses={204: None, **error_responses("invalid", "not_found", "throttled")}),
)
class DatasetViewSet(QueryParametersChecked, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Datasets: create, list, retrieve, change settings, delete."""

    serializer_class = DatasetSerializer
    permission_classes = [IsAuthenticated, IsOwnerOrStaff]
    filterset_class = DatasetFilter
    lookup_url_kwarg = "dataset_id"  # the name every nested path uses too
    lookup_value_regex = IdConverter.regex
    queryset = Dataset.objects.none()  # for the schema; requests use get_queryset

    def query_parameters(self) -> set[str]:
        """The list's filters and pages; no parameters elsewhere."""
        return list_parameters(self) if self.action == "list" else set()

    def get_queryset(self) -> Any:
        """The user's datasets (every one for staff), with data version and row totals."""
        return selectors.datasets_visible(user=self.request.user)

    def _serialize(self, datasets: list[Dataset], many: bool) -> Any:
        """Serialize with the datasets' training states, found in one query."""
        context = {**self.get_serializer_context(), "states": selectors.dataset_states(datasets=datasets)}
        return DatasetSerializer(datasets if many else datasets[0], many=many, context=context).data

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One page of datasets."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self._serialize(list(page), many=True))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One dataset."""
        return Response(self._serialize([self.get_object()], many=False))

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Validate the types here, the rules in ``services.dataset_create``."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dataset = services.dataset_create(owner=request.user, **serializer.validated_data)
        created = self.get_queryset().get(pk=dataset.pk)
        location = request.build_absolute_uri(reverse("api:dataset-detail", kwargs={"dataset_id": dataset.pk}))
        return Response(self._serialize([created], many=False), status=status.HTTP_201_CREATED,
                        headers={"Location": location})

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Validate the types here, the rules in ``services.dataset_update`` (through ``scheduling``)."""
        dataset = self.get_object()
        serializer = self.get_serializer(dataset, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        scheduling.dataset_reconfigure(dataset=dataset, **serializer.validated_data)
        return Response(self._serialize([self.get_queryset().get(pk=dataset.pk)], many=False))

    def perform_destroy(self, instance: Dataset) -> None:
        """Delete through the service, which also retires the runtime namespace."""
        services.dataset_delete(dataset=instance)


class BatchListView(ListQueryParameters, DatasetScopedMixin, generics.GenericAPIView):
    """A dataset's batches: list them, or add one from a CSV file or JSON rows."""

    serializer_class = BatchSerializer
    parser_classes = [LimitedMultiPartParser, LimitedJSONParser, CSVBodyParser]
    queryset = Batch.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self) -> Any:
        """The dataset's batches in arrival order."""
        return selectors.batch_list(dataset=self.get_dataset())

    @extend_schema(summary="List a dataset's batches",
                   responses={200: BatchSerializer(many=True), **error_responses(*READ_CODES)})
    def get(self, request: Request, dataset_id: int) -> Response:
        """One page of batches."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(BatchSerializer(page, many=True).data)

    @extend_schema(
        summary="Add a batch: CSV (the body as `text/csv`, or multipart field `file`) or JSON rows",
        description=(
            "The CSV's header names the columns in any order; columns the dataset lacks are ignored. A `text/csv` "
            "body is named in errors and on the batch by the filename of its `Content-Disposition` header, if any. "
            "Values must be finite with magnitude at most 1e75 (larger ones would overflow the sums of squares). "
            "A rejected batch stores nothing (400 with file, row, column and reason; 413 over the upload "
            "limit); a batch identical to an accepted one is not added again (409). 201 when every mode's "
            "model already covers the batch, 202 when training is still to come; both give the new batch's "
            "address in Location."
        ),
        request={"text/csv": OpenApiTypes.BINARY, "multipart/form-data": BatchFileSerializer,
                 "application/json": BatchRowsSerializer},
        responses={201: BatchAcceptedSerializer, 202: BatchAcceptedSerializer, **error_responses(*BATCH_CODES)},
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        """Accept the batch through the regression service, then say whether its models are trained yet."""
        dataset = self.get_dataset()
        content, rows, source = batch_body(request)
        try:
            batch, _ = scheduling.batch_accept(dataset=dataset, content=content, rows=rows, source=source)
        except services.DuplicateBatch as duplicate:
            raise DuplicateUpload(file=source, batch=duplicate.number, detail=str(duplicate)) from None
        done = selectors.models_cover(dataset=dataset, data_version=batch.revision)
        answer = {**BatchSerializer(batch).data, "training": "done" if done else "queued"}
        location = request.build_absolute_uri(
            reverse("api:dataset-batch", kwargs={"dataset_id": dataset.pk, "number": batch.number}))
        return Response(answer, status=status.HTTP_201_CREATED if done else status.HTTP_202_ACCEPTED,
                        headers={"Location": location})


def batch_body(request: Request) -> tuple[str | bytes | None, list[Any] | None, str]:
    """A batch request's CSV (a ``text/csv`` body, or multipart ``file``) or JSON ``rows``: ``(content, rows, source)``."""
    if request.content_type.startswith(CSVBodyParser.media_type):
        data = request.data  # no body at all parses to {}: an empty file
        _, params = parse_header_parameters(request.headers.get("Content-Disposition", ""))
        source = (params.get("filename") or "upload.csv")[-SOURCE_MAX_CHARS:]
        return data if isinstance(data, bytes) else b"", None, source
    if request.content_type.startswith("multipart/"):
        upload_form = BatchFileSerializer(data=request.data)
        upload_form.is_valid(raise_exception=True)
        upload = upload_form.validated_data["file"]
        source = (upload.name or "upload.csv")[-SOURCE_MAX_CHARS:]
        limit = settings.SALSAWEB_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise UploadTooLarge(limit=limit, file=source)
        return upload.read(), None, source
    body = BatchRowsSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    return None, body.validated_data["rows"], JSON_ROWS_SOURCE


class BatchDetailView(DatasetScopedMixin, generics.GenericAPIView):
    """One batch by number: describe it, replace its rows, or delete it (each change is one new data revision)."""

    serializer_class = BatchSerializer
    parser_classes = [LimitedMultiPartParser, LimitedJSONParser, CSVBodyParser]

    def _missing(self, number: int) -> NotFound:
        """The 404 for a batch number never given, or deleted."""
        return NotFound(f"this dataset has no batch #{number} (never added, or deleted)")

    @extend_schema(summary="A batch: number, rows, source file, content hash, when added and replaced",
                   responses={200: BatchSerializer, **error_responses(*READ_CODES)})
    def get(self, request: Request, dataset_id: int, number: int) -> Response:
        """The batch, unless it was deleted (404)."""
        batch = selectors.batch_get(dataset=self.get_dataset(), number=number)
        if batch is None:
            raise self._missing(number)
        return Response(BatchSerializer(batch).data)

    @extend_schema(
        summary="Replace a batch's rows: CSV (the body as `text/csv`, or multipart field `file`) or JSON rows",
        description=(
            "Same rules and errors as adding a batch; the batch keeps its number. A rejected replacement "
            "changes nothing (400, 413; 409 when another batch has the same numbers). Rows equal to the "
            "batch's own change nothing (200, no new revision). 200 when every mode's model already "
            "reflects the change, 202 when training is still to come."
        ),
        request={"text/csv": OpenApiTypes.BINARY, "multipart/form-data": BatchFileSerializer,
                 "application/json": BatchRowsSerializer},
        responses={200: BatchAcceptedSerializer, 202: BatchAcceptedSerializer, **error_responses(*BATCH_CODES)},
    )
    def put(self, request: Request, dataset_id: int, number: int) -> Response:
        """Replace through the scheduling intake, then say whether the models are trained yet."""
        dataset = self.get_dataset()
        content, rows, source = batch_body(request)
        try:
            batch, _ = scheduling.batch_resubmit(dataset=dataset, number=number, content=content,
                                                 rows=rows, source=source)
        except Batch.DoesNotExist:
            raise self._missing(number) from None
        except services.DuplicateBatch as duplicate:
            raise DuplicateUpload(file=source, batch=duplicate.number, detail=str(duplicate)) from None
        done = selectors.models_cover(dataset=dataset, data_version=batch.revision)
        answer = {**BatchSerializer(batch).data, "training": "done" if done else "queued"}
        return Response(answer, status=status.HTTP_200_OK if done else status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Delete a batch: its rows leave every model; its number is never given again",
                   responses={204: None, **error_responses("invalid", "not_found", "throttled")})
    def delete(self, request: Request, dataset_id: int, number: int) -> Response:
        """Delete through the scheduling intake (a new data revision; retraining queued)."""
        try:
            scheduling.batch_withdraw(dataset=self.get_dataset(), number=number)
        except Batch.DoesNotExist:
            raise self._missing(number) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelView(DatasetScopedMixin, generics.GenericAPIView):
    """A mode's trained model at a data version (the API's ``revision``)."""

    serializer_class = TrainedModelSerializer

    @extend_schema(
        summary="The model of a mode (default: the dataset's first) at a revision (default: latest trained)",
        parameters=[ModelQuerySerializer],
        responses={200: TrainedModelSerializer, **error_responses(*READ_CODES, *MODEL_CODES)},
    )
    def get(self, request: Request, dataset_id: int) -> Response:
        """Weights by feature, bias, loss curve and the closed-form optimum, from the run records."""
        dataset = self.get_dataset()
        query = ModelQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        mode = selectors.dataset_mode(dataset=dataset, mode=query.validated_data.get("mode"))
        model = model_or_404(dataset, mode, query.validated_data.get("revision"))
        return Response(TrainedModelSerializer(model).data)

    def query_parameters(self) -> set[str]:
        """``mode`` and ``revision``."""
        return set(ModelQuerySerializer().fields)


def model_or_404(dataset: Dataset, mode: str, revision: int | None) -> dict[str, Any]:
    """The model of ``mode`` at ``revision`` (default: latest), else a 404 naming what exists (``no_such_revision``
    for a revision the dataset has not reached, ``not_trained`` otherwise)."""
    model = selectors.model_get(dataset=dataset, mode=mode, data_version=revision)
    if model is not None:
        return model
    latest_model = selectors.model_revision_latest(dataset=dataset, mode=mode)
    latest = selectors.dataset_data_version(dataset=dataset)
    if revision is not None and revision > latest:
        raise NoSuchRevision(mode=mode, revision=revision, latest=latest, latest_model=latest_model)
    raise NotTrained(mode=mode, revision=revision, latest_model=latest_model)


class GraphView(DatasetScopedMixin, generics.GenericAPIView):
    """A mode's model as the engine holds it: what its last iteration depends on, and what the run did with each call."""

    serializer_class = GraphSerializer

    @extend_schema(
        summary="The dependency graph of a mode's model (default: the dataset's first) at a revision (default: latest)",
        parameters=[ModelQuerySerializer],
        responses={200: GraphSerializer, **error_responses(*READ_CODES, *MODEL_CODES)},
    )
    def get(self, request: Request, dataset_id: int) -> Response:
        """Calls grouped by function, coloured executed / verified / reused by the run, linked to the admin."""
        dataset = self.get_dataset()
        query = ModelQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        mode = selectors.dataset_mode(dataset=dataset, mode=query.validated_data.get("mode"))
        revision = query.validated_data.get("revision")
        model_or_404(dataset, mode, revision)
        graph = selectors.model_graph(dataset=dataset, mode=mode, data_version=revision)
        if graph is None:  # trained, but its memos were collected since
            raise NotTrained(mode=mode, revision=revision,
                             latest_model=selectors.model_revision_latest(dataset=dataset, mode=mode))
        return Response(GraphSerializer(graph).data)

    def query_parameters(self) -> set[str]:
        """``mode`` and ``revision``."""
        return set(ModelQuerySerializer().fields)


class PredictView(DatasetScopedMixin, generics.GenericAPIView):
    """Predictions of a mode's model for one or many rows."""

    serializer_class = PredictRequestSerializer
    parser_classes = [LimitedJSONParser]

    @extend_schema(
        summary="Predict the target for rows of feature values",
        request=PredictRequestSerializer,
        responses={200: PredictionSerializer, **error_responses(*WRITE_CODES, *MODEL_CODES)},
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        """Check every row has every feature, then apply the model."""
        dataset = self.get_dataset()
        query = PredictRequestSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        mode = selectors.dataset_mode(dataset=dataset, mode=query.validated_data.get("mode"))
        matrix = []
        for number, row in enumerate(query.validated_data["rows"], start=1):
            missing = [feature for feature in dataset.features if feature not in row]
            if missing:
                raise ValidationError({"rows": [f"row {number}: missing feature(s) {', '.join(map(repr, missing))}"]})
            matrix.append([row[feature] for feature in dataset.features])
        model = model_or_404(dataset, mode, query.validated_data.get("revision"))
        with np.errstate(over="ignore", invalid="ignore"):
            predictions = selectors.model_predict(dataset=dataset, mode=mode, data_version=model["revision"],
                                                  rows=np.array(matrix, dtype=np.float64))
        body = {"mode": mode, "revision": model["revision"], "predictions": predictions.tolist()}
        return Response(PredictionSerializer(body).data)


@extend_schema_view(get=extend_schema(summary="Per-batch records: cost, iterations, memo work and loss per mode",
                                      responses={200: RunSerializer(many=True), **error_responses(*READ_CODES)}))
class RunListView(ListQueryParameters, DatasetScopedMixin, generics.ListAPIView):
    """One record per (batch, mode), in batch order."""

    serializer_class = RunSerializer
    filterset_class = RunFilter
    queryset = BatchRun.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self) -> Any:
        """The dataset's run records, without their per-iteration lists."""
        return selectors.run_records(dataset=self.get_dataset())


@extend_schema_view(get=extend_schema(summary="Convergence curves (loss per iteration), newest batch first",
                                      responses={200: CurveSerializer(many=True), **error_responses(*READ_CODES)}))
class CurveListView(ListQueryParameters, DatasetScopedMixin, generics.ListAPIView):
    """Loss per iteration of each (batch, mode) update, and the optimum it approaches."""

    serializer_class = CurveSerializer
    filterset_class = RunFilter
    pagination_class = CurvePagination
    queryset = BatchRun.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self) -> Any:
        """The dataset's curves, newest batch first."""
        return selectors.curve_records(dataset=self.get_dataset())


@extend_schema_view(get=extend_schema(summary="Memos of the dataset's runtime namespace (read-only)",
                                      responses={200: MemoSerializer(many=True), **error_responses(*READ_CODES)}))
class MemoListView(ListQueryParameters, DatasetScopedMixin, generics.ListAPIView):
    """The memo store's rows for this dataset: what was computed, when, and how long it took."""

    serializer_class = MemoSerializer
    filterset_class = MemoFilter
    queryset = memo_none()  # for the schema; requests use get_queryset

    def get_queryset(self) -> Any:
        """The namespace's memos, latest changed first."""
        return selectors.memo_records(dataset=self.get_dataset())


class TrainingView(DatasetScopedMixin, generics.GenericAPIView):
    """Where background training of each mode stands: what dashboards poll while it runs."""

    serializer_class = TrainingSerializer

    @extend_schema(summary="Training state per mode: queued, running (iteration and loss so far), done or failed",
                   responses={200: TrainingSerializer, **error_responses(*READ_CODES)})
    def get(self, request: Request, dataset_id: int) -> Response:
        """One row per mode the dataset trains."""
        dataset = self.get_dataset()
        return Response(TrainingSerializer({"modes": selectors.training_state_list(dataset=dataset)}).data)


@csrf_exempt  # it changes nothing, so a write to an unknown path gets this 404, not the CSRF check's HTML 403
def not_found(request: HttpRequest) -> JsonResponse:
    """Any path under /api/ that names no endpoint, whatever the method: the error shape's 404."""
    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
