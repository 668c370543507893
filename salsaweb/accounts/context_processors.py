"""Template context of every page: whether visitors may sign up (the navigation links to it)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def signup(request: HttpRequest) -> dict[str, Any]:
    """``signup_open``: SALSAWEB_SIGNUP, read per request so that tests and operators can change it."""
    return {"signup_open": settings.SALSAWEB_SIGNUP}
