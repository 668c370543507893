"""Who may touch a dataset: its owner, or staff."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.permissions import BasePermission

if TYPE_CHECKING:  # rest_framework.views imports the settings' classes, this module among them
    from rest_framework.request import Request
    from rest_framework.views import APIView


class IsOwnerOrStaff(BasePermission):
    """Object permission: the dataset's owner or a staff user (querysets are filtered the same way)."""

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        """Whether the user owns ``obj`` or is staff."""
        return bool(request.user.is_staff or obj.owner_id == request.user.pk)
