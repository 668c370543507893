"""``manage.py first_run``: on a new installation, create a sign-in account, print its password once, add samples.

Run it after ``migrate``; it is safe to run every time: once any user exists it only says
how to sign in, and never prints a password again.
"""
from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from salsaweb.dashboard.samples import samples_seed

DEFAULT_USERNAME = "salsa"


class Command(BaseCommand):
    """Create the first account (an admin) with a random password, and give it the sample datasets."""

    help = "First run: create an admin account with a random password (printed once) and sample datasets."

    def add_arguments(self, parser: CommandParser) -> None:
        """``--username`` of the account; ``--url`` where the site answers, for the message."""
        parser.add_argument("--username", default=DEFAULT_USERNAME)
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="the site's address, for the message")
        parser.add_argument("--no-samples", action="store_true", help="do not add the sample datasets")

    def handle(self, *args: Any, **options: Any) -> None:
        """Create the account if no user exists yet; otherwise leave everything as it is."""
        users = get_user_model().objects
        login_url = options["url"].rstrip("/") + "/accounts/login/"
        if users.exists():
            self.stdout.write(
                f"Salsaweb has accounts already: sign in at {login_url} "
                "(forgotten password: python manage.py changepassword USERNAME)."
            )
            return
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user = users.create_superuser(username=options["username"], email="", password=password)
            created = [] if options["no_samples"] else samples_seed(owner=user)
        self.stdout.write(self.style.SUCCESS("First run: created an account for you."))
        self.stdout.write(f"  sign in at {login_url}")
        self.stdout.write(f"  username:  {user.get_username()}")
        self.stdout.write(f"  password:  {password}")
        self.stdout.write("  (shown only now; change it with: python manage.py changepassword "
                          f"{user.get_username()})")
        for dataset in created:
            self.stdout.write(f"  sample dataset: {dataset.name}")
