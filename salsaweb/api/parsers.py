"""Body parsers that refuse oversized requests with 413 before reading them.

The limit is ``settings.SALSAWEB_MAX_UPLOAD_BYTES`` (env ``SALSAWEB_MAX_UPLOAD_BYTES``; the
dashboard tells its upload form the same).  A
multipart body may exceed it by ``MULTIPART_FRAMING_BYTES`` for its boundaries and headers;
the view then checks the file's own size against the limit exactly.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers

from .exceptions import UploadTooLarge

MULTIPART_FRAMING_BYTES = 64 * 1024


def _refuse_if_longer(parser_context: Mapping[str, Any] | None, allowed: int) -> None:
    """Raise 413 when the request declares a body longer than ``allowed`` bytes."""
    request = (parser_context or {}).get("request")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
    except ValueError:
        length = 0
    if length > allowed:
        raise UploadTooLarge(limit=settings.SALSAWEB_MAX_UPLOAD_BYTES)


class LimitedJSONParser(parsers.JSONParser):
    """JSON bodies up to the upload limit."""

    def parse(self, stream: IO[bytes], media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        """Refuse an oversized body, else parse it as JSON."""
        _refuse_if_longer(parser_context, settings.SALSAWEB_MAX_UPLOAD_BYTES)
        return super().parse(stream, media_type, parser_context)


class LimitedMultiPartParser(parsers.MultiPartParser):
    """Multipart bodies up to the upload limit plus framing."""

    def parse(self, stream: IO[bytes], media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        """Refuse an oversized body, else parse it (files spool to disk past Django's memory limit)."""
        _refuse_if_longer(parser_context, settings.SALSAWEB_MAX_UPLOAD_BYTES + MULTIPART_FRAMING_BYTES)
        return super().parse(stream, media_type, parser_context)
