"""Serve the charting library's JavaScript from the installed ``plotly`` Python package, not a CDN.

plotly.py ships the matching plotly.js build as ``plotly/package_data/plotly.min.js``.  This
finder exposes that one file as the static file ``vendor/plotly.min.js`` (runserver and
``collectstatic`` both find it), and nothing else of the package.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_STATIC_PATH = "vendor/plotly.min.js"
PLOTLY_FILE = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class PlotlyFinder(BaseFinder):
    """Finds ``vendor/plotly.min.js`` in the plotly package."""

    def check(self, **kwargs: Any) -> list[Any]:
        """Report a plotly package without its bundled JavaScript."""
        from django.core.checks import Error

        if PLOTLY_FILE.is_file():
            return []
        return [Error(f"{PLOTLY_FILE} is missing: reinstall the plotly package", id="dashboard.E001")]

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        """The file's absolute path for ``vendor/plotly.min.js`` (a list when ``find_all``), else nothing."""
        if path == PLOTLY_STATIC_PATH and PLOTLY_FILE.is_file():
            return [str(PLOTLY_FILE)] if find_all else str(PLOTLY_FILE)
        return [] if find_all else ""

    def list(self, ignore_patterns: list[str] | None) -> Iterator[tuple[str, FileSystemStorage]]:
        """The one file, for collectstatic (stored under the ``vendor`` prefix)."""
        storage = FileSystemStorage(location=str(PLOTLY_FILE.parent))
        storage.prefix = "vendor"  # type: ignore[attr-defined]
        yield PLOTLY_FILE.name, storage
