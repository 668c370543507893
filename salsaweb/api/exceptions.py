"""The API's one error shape: a JSON object with a stable ``code`` and a human ``detail``, plus context.

=============================  ======  ==========================================================
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
``permission_denied``          403
``not_found``                  404     (also for other users' datasets: their existence is not told)
``not_trained``                404     ``mode``: that mode has no model yet
``duplicate_batch``            409     ``file``, ``batch``: the number of the identical batch
``too_large``                  413     ``file``, ``limit_bytes``
``unsupported_media_type``     415
``throttled``                  429     ``wait``: seconds until the next write is allowed
=============================  ======  ==========================================================
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from salsaweb.regression.parsing import BatchError, CsvError


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


class DuplicateUpload(exceptions.APIException):
    """The batch's numbers equal those of an accepted batch, so it was not added again."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "duplicate_batch"

    def __init__(self, *, file: str, batch: int, detail: str) -> None:
        super().__init__(detail=detail)
        self.extra = {"file": file, "batch": batch}


class NotTrained(exceptions.APIException):
    """The requested mode has no model yet (or none at the requested data version)."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_trained"

    def __init__(self, *, mode: str, detail: str) -> None:
        super().__init__(detail=detail)
        self.extra = {"mode": mode}


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
