"""The sign-up form: Django's user-creation checks (a name no one has, in any case; the password validators)."""
from __future__ import annotations

from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """Username and the password twice; saving is ``services.account_create``'s job, not the form's."""
