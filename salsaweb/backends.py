"""The authentication backend: Django's ModelBackend behind the sign-in limits of salsaweb/services.py."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from salsaweb import services


class LimitedModelBackend(ModelBackend):
    """Refuses every sign-in of a locked username or address, and counts each failed one.

    Views that can answer 429 check ``services.login_wait`` first; this backend is what also
    holds the limit for the others (the admin's sign-in page).
    """

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:
        """The user for these credentials, None for wrong ones (counted); PermissionDenied while locked."""
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if request is None or username is None or password is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        address = services.client_address(request)
        if services.login_wait(username=str(username), address=address):
            raise PermissionDenied("too many failed sign-ins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            services.login_failure_record(username=str(username), address=address)
        return user
