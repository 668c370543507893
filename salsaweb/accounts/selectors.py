"""Read side of accounts: a user's API token."""
from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.authtoken.models import Token


def token_get(*, user: AbstractBaseUser) -> Token | None:
    """The user's API token, or None if they have none yet."""
    return Token.objects.filter(user=user).first()
