"""Write side of accounts: create an account, replace a user's API token."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from rest_framework.authtoken.models import Token


def account_create(*, username: str, password: str) -> AbstractBaseUser:
    """A plain (not staff) account; the caller has validated the name and password (``SignupForm``)."""
    return get_user_model().objects.create_user(username=username, password=password)


@transaction.atomic
def token_reset(*, user: AbstractBaseUser) -> Token:
    """A new API token for ``user``: the old one (if any) stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)
