"""Rate limits on writes (POST, PUT, PATCH, DELETE): per user, or per address when anonymous."""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

if TYPE_CHECKING:  # rest_framework.views imports the settings' classes, this module among them
    from rest_framework.request import Request
    from rest_framework.views import APIView

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WriteRateThrottle(UserRateThrottle):
    """Counts only writes, at the ``writes`` rate of DEFAULT_THROTTLE_RATES (read per request: settings can change)."""

    scope = "writes"

    def get_rate(self) -> str | None:
        """The current ``writes`` rate, e.g. ``"120/min"``."""
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Request) -> str:
        """The anonymous client's address (see SALSAWEB_TRUSTED_PROXIES), hashed: cache keys stay short."""
        return hashlib.sha256((super().get_ident(request) or "").encode("utf-8", "surrogatepass")).hexdigest()

    def allow_request(self, request: Request, view: APIView) -> bool:
        """Reads always pass; writes count against the rate."""
        if request.method in SAFE_METHODS:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)
