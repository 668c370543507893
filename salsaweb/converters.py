"""The ``id`` path converter: a row id of at most 18 digits, so it always fits a 64-bit column.

Django's ``int`` converter takes any length, and a 20-digit id overflows PostgreSQL's bigint
(a server error instead of 404).  The project's URLconf registers it once for every app's
routes; the schema states the same range (``PATH_CONVERTER_OVERRIDES`` in the settings).
"""
from __future__ import annotations


class IdConverter:
    """Matches 1 to 18 digits; the value is an int."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        """The id as an int."""
        return int(value)

    def to_url(self, value: int) -> str:
        """The id as digits."""
        return str(int(value))
