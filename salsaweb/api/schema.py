"""The error codes in the OpenAPI schema: each operation's error responses name their codes, and the
schema's description carries the whole table (from ``exceptions.ERROR_CODES``)."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse

from .exceptions import ERROR_CODES
from .serializers import ErrorSerializer

_BY_CODE = {error.code: error for error in ERROR_CODES}
#: What any authenticated endpoint can answer.
AUTH_CODES = ("not_authenticated", "authentication_failed", "permission_denied")


def error_responses(*codes: str, authenticated: bool = True) -> dict[int, OpenApiResponse]:
    """``{status: response}`` for these error codes (plus the authentication ones, unless the operation takes no
    credentials), each response naming its codes."""
    by_status: dict[int, list[str]] = {}
    for code in (*codes, *(AUTH_CODES if authenticated else ())):
        by_status.setdefault(_BY_CODE[code].status, []).append(code)
    return {
        status: OpenApiResponse(ErrorSerializer, description="; ".join(
            f"`{code}`: {_BY_CODE[code].meaning}" + (f" ({_BY_CODE[code].keys})" if _BY_CODE[code].keys else "")
            for code in dict.fromkeys(found)))
        for status, found in sorted(by_status.items())
    }


def error_table() -> str:
    """Every error code as a Markdown table: code, status, extra keys, meaning."""
    rows = [f"| `{e.code}` | {e.status} | {e.keys or '-'} | {e.meaning} |" for e in ERROR_CODES]
    return "\n".join(["| code | status | extra keys | when |", "| --- | --- | --- | --- |", *rows])


def describe_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: append the error-code table to the schema's description."""
    info = result.setdefault("info", {})
    info["description"] = f"{info.get('description', '')}\n\n## Error codes\n\n{error_table()}\n"
    return result
