"""The API's one error shape: a JSON object with a stable ``code`` and a human ``detail``, plus context.

``code``                       status  extra keys
=============================  ======  ==========================================================
``invalid``                    400     ``fields``: {field: [message, ...]} (``non_field_errors``
                                       for problems of the whole body)
``invalid_csv``                400     ``file``, ``row`` (1-based data row, null for the header or
                                       the whole file), ``line``, ``column``, ``reason``
``invalid_rows``               400     the same keys, for JSON rows (``line`` is null)
``parse_error``                400     (malformed JSON, form or multipart body; JSON nested too deeply;
                                       more form fields or files than the server reads)
``not_authenticated``          401     (also ``authentication_failed`` for a bad token)
``invalid_credentials``        401     (``POST /api/auth/token/``: wrong username or password)
``permission_denied``          403
``not_found``                  404     (also for other users' datasets: their existence is not told)
``not_trained``                404     ``mode``: that mode has no model yet
``duplicate_batch``            409     ``file``, ``batch``: the number of the identical batch
``too_large``                  413     ``file``, ``limit_bytes``
``unsupported_media_type``     415
``throttled``                  429     ``wait``: seconds until the next write (or sign-in) is allowed
=============================  ======  ==========================================================
=======
``ERROR_CODES`` lists every code with its status and extra keys; the OpenAPI schema's
description and each operation's error responses are written from it (``salsaweb.api.schema``),
and docs/api.md repeats it (a test keeps the two equal).
"""
from __future__ import annotations

from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from salsaweb.regression.parsing import BatchError, CsvError


class ErrorCode(NamedTuple):
    """One error ``code``: its HTTP status, the keys it adds to ``code`` and ``detail``, and when it happens."""

    code: str
    status: int
    keys: str
    meaning: str


#: Every error code the API answers with, in status order.
ERROR_CODES: tuple[ErrorCode, ...] = (
    ErrorCode("invalid", 400, "`fields` ({field: [message, ...]})",
              "a body field or query parameter is wrong, or a query parameter is unknown to the endpoint "
              "(`non_field_errors` for problems of the whole body)"),
    ErrorCode("invalid_csv", 400, "`file`, `row`, `line`, `column`, `reason`",
              "a CSV batch cannot be read (`row` is the 1-based data row, null for the header or the whole file)"),
    ErrorCode("invalid_rows", 400, "`file`, `row`, `line` (null), `column`, `reason`", "JSON batch rows are wrong"),
    ErrorCode("parse_error", 400, "", "the JSON or multipart body is malformed"),
    ErrorCode("not_authenticated", 401, "", "no credentials were sent"),
    ErrorCode("authentication_failed", 401, "", "the token is wrong"),
    ErrorCode("invalid_credentials", 401, "", "`POST /api/auth/token/`: the username or password is wrong"),
    ErrorCode("permission_denied", 403, "", "the user may not do this"),
    ErrorCode("not_found", 404, "", "no such path, dataset or batch (other users' datasets are not found either)"),
    ErrorCode("no_such_revision", 404, "`mode`, `revision`, `latest_revision`, `latest_model_revision`",
              "the dataset has no such data revision yet"),
    ErrorCode("not_trained", 404, "`mode`, `revision`, `latest_model_revision`",
              "the mode has no model (at that revision) yet"),
    ErrorCode("method_not_allowed", 405, "", "the path does not take this method"),
    ErrorCode("not_acceptable", 406, "", "the `Accept` header asks for something other than JSON"),
    ErrorCode("duplicate_batch", 409, "`file`, `batch`", "the batch's numbers equal those of batch `batch`"),
    ErrorCode("too_large", 413, "`file`, `limit_bytes`", "the upload or body is over the upload limit"),
    ErrorCode("unsupported_media_type", 415, "", "the body's content type is not accepted here"),
    ErrorCode("throttled", 429, "`wait`", "too many writes or failed sign-ins: retry after `wait` seconds"),
)


class BatchProblem(exceptions.APIException):
    """A batch that cannot be accepted: which file (or JSON body), row, column, and why."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_csv"

    def __init__(
        self,
        *,
        file: str,
        reason: str,
        detail: str,
        row: int | None = None,
        line: int | None = None,
        column: str | None = None,
        code: str = "invalid_csv",
    ) -> None:
        super().__init__(detail=detail, code=code)
        self.extra = {"file": file, "row": row, "line": line, "column": column, "reason": reason}

    @classmethod
    def from_batch_error(cls, error: BatchError) -> BatchProblem:
        """The API form of a batch's problem: ``invalid_csv`` in a file, ``invalid_rows`` in JSON rows (no line)."""
        return cls(file=error.source, reason=error.problem, detail=str(error), row=error.row, line=error.line,
                   column=error.column, code="invalid_csv" if isinstance(error, CsvError) else "invalid_rows")


class UploadTooLarge(exceptions.APIException):
    """A request body or uploaded file over ``SALSAWEB_MAX_UPLOAD_BYTES``."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self, *, limit: int, file: str | None = None) -> None:
        what = f"{file} is" if file else "the request body is"
        super().__init__(detail=f"{what} larger than the upload limit of {limit:,} bytes")
        self.extra = {"file": file, "limit_bytes": limit}


class InvalidCredentials(exceptions.AuthenticationFailed):
    """A sign-in whose username and password match no active account (counted by the sign-in limits)."""

    default_detail = "Unable to log in with provided credentials."
    default_code = "invalid_credentials"


class DuplicateUpload(exceptions.APIException):
    """The batch's numbers equal those of an accepted batch, so it was not added again."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "duplicate_batch"

    def __init__(self, *, file: str, batch: int, detail: str) -> None:
        super().__init__(detail=detail)
        self.extra = {"file": file, "batch": batch}


class NotTrained(exceptions.APIException):
    """The requested mode has no model yet (or none at the requested data revision)."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_trained"

    def __init__(self, *, mode: str, revision: int | None, latest_model: int | None) -> None:
        at = f" at revision {revision}" if revision is not None else ""
        latest = (f"; the latest {mode} model is at revision {latest_model}" if latest_model is not None
                  else "; it has none yet")
        super().__init__(detail=f"no {mode} model{at} for this dataset{latest}")
        self.extra = {"mode": mode, "revision": revision, "latest_model_revision": latest_model}


class NoSuchRevision(exceptions.APIException):
    """A data revision beyond the dataset's latest: it does not exist (yet)."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "no_such_revision"

    def __init__(self, *, mode: str, revision: int, latest: int, latest_model: int | None) -> None:
        model = (f"; the latest {mode} model is at revision {latest_model}" if latest_model is not None
                 else f"; there is no {mode} model yet")
        super().__init__(detail=f"revision {revision} does not exist: this dataset's latest revision is {latest}{model}")
        self.extra = {"mode": mode, "revision": revision, "latest_revision": latest, "latest_model_revision": latest_model}


def _code(exc: exceptions.APIException) -> str:
    """The stable code of a DRF exception whose detail is one message."""
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def _fields(detail: Any) -> dict[str, Any]:
    """Field errors as {field: [messages]}, a bare list becoming ``non_field_errors``."""
    if isinstance(detail, dict):
        return {str(key): value if isinstance(value, (list, dict)) else [value] for key, value in detail.items()}
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API error in the shape the module docstring gives (None lets others become 500)."""
    # Imported here: rest_framework.views loads the parser settings, and the parsers import this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, BatchError):
        exc = BatchProblem.from_batch_error(exc)
    elif isinstance(exc, RequestDataTooBig):  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE: the upload limit too
        exc = UploadTooLarge(limit=settings.SALSAWEB_MAX_UPLOAD_BYTES)
    elif isinstance(exc, TooManyFieldsSent):
        exc = exceptions.ParseError(f"Form parse error - more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields")
    elif isinstance(exc, TooManyFilesSent):
        exc = exceptions.ParseError(f"Form parse error - more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body: dict[str, Any] = {"code": "invalid", "detail": "Invalid input.", "fields": _fields(exc.detail)}
    else:
        body = {"code": _code(exc), "detail": str(exc.detail)}
        body.update(getattr(exc, "extra", {}))
        if isinstance(exc, exceptions.Throttled):
            body["wait"] = exc.wait
    response.data = body
    return response
