"""Body parsers that refuse oversized requests with 413 before reading them, and JSON nested too deeply with 400.

The limit is ``settings.SALSAWEB_MAX_UPLOAD_BYTES`` (env ``SALSAWEB_MAX_UPLOAD_BYTES``; the
dashboard tells its upload form the same).  Django's own ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is set
to it too (settings/base.py), so a declared length over it is refused before the body is read,
and the exception handler answers that with the same 413.  A
multipart body may exceed it by ``MULTIPART_FRAMING_BYTES`` for its boundaries and headers;
the view then checks the file's own size against the limit exactly.

No request body of the API nests deeper than 3 levels (``{"rows": [{...}]}``), and code that
walks a parsed value (validation, hashing, error messages) recurses through it, so JSON nested
deeper than ``MAX_JSON_DEPTH`` is refused as a parse error before anything else sees it.
"""
from __future__ import annotations

import codecs
import io
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from .exceptions import UploadTooLarge

MULTIPART_FRAMING_BYTES = 64 * 1024
#: Deepest nesting of arrays and objects a JSON body may have.
MAX_JSON_DEPTH = 32

#: For ``bytes.translate``: keep brackets and quotes (braces become brackets), drop every other byte.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{}"')


def json_nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether valid UTF-8 JSON text nests arrays and objects deeper than ``limit`` (C-speed string passes, no recursion).

    Escapes are dropped first (``\\\\`` pairs, then ``\\"``), so every remaining quote delimits a
    string; the brackets between the strings are the structure, and each pass removing the
    innermost ``[]`` pairs peels exactly one level.  Adjacent quotes go first: dropping two of
    them changes no bracket's side, and it leaves only strings that held brackets to split out.
    """
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = body.translate(_BRACKETS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])
    for _ in range(limit):
        if not structure:
            return False
        structure = structure.replace(b"[]", b"")
    return bool(structure)


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
    """JSON bodies up to the upload limit, nested at most ``MAX_JSON_DEPTH`` deep."""

    def parse(self, stream: IO[bytes], media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        """Refuse an oversized body, else parse it as JSON and refuse it if nested too deeply."""
        _refuse_if_longer(parser_context, settings.SALSAWEB_MAX_UPLOAD_BYTES)
        body = stream.read()
        too_deep = ParseError(f"JSON parse error - arrays and objects nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:  # deeper than the json module itself can go
            raise too_deep from None
        encoding = parsers.get_encoding(parser_context or {})
        if codecs.lookup(encoding).name != "utf-8":  # the body parsed, so it decodes
            body = body.decode(encoding).encode("utf-8", "surrogatepass")
        if json_nesting_exceeds(body, MAX_JSON_DEPTH):
            raise too_deep
        return data


class CSVBodyParser(parsers.BaseParser):
    """A CSV batch sent as the body itself (``Content-Type: text/csv``): its bytes, up to the upload limit.

    The regression service parses and checks them; unlike a multipart upload, the body is
    neither scanned for boundaries nor spooled to a temporary file first.
    """

    media_type = "text/csv"

    def parse(self, stream: IO[bytes], media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> bytes:
        """Refuse an oversized body (declared or, without a length, as read), else return it."""
        limit = settings.SALSAWEB_MAX_UPLOAD_BYTES
        _refuse_if_longer(parser_context, limit)
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise UploadTooLarge(limit=limit)
        return body


class LimitedMultiPartParser(parsers.MultiPartParser):
    """Multipart bodies up to the upload limit plus framing."""

    def parse(self, stream: IO[bytes], media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        """Refuse an oversized body, else parse it (files spool to disk past Django's memory limit)."""
        _refuse_if_longer(parser_context, settings.SALSAWEB_MAX_UPLOAD_BYTES + MULTIPART_FRAMING_BYTES)
        return super().parse(stream, media_type, parser_context)
