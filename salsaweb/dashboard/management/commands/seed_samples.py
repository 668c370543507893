"""``manage.py seed_samples --owner NAME``: give a user the sample datasets (skipping those they have)."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from salsaweb.dashboard.samples import samples_seed


class Command(BaseCommand):
    """Create the seed's y = x + noise dataset and the multi-feature houses dataset for a user."""

    help = "Add the sample datasets (the seed's y = x + noise batches, a 4-feature housing set) to a user's account."

    def add_arguments(self, parser: CommandParser) -> None:
        """``--owner``: the username to give them to."""
        parser.add_argument("--owner", required=True, help="username of an existing user")

    def handle(self, *args: Any, **options: Any) -> None:
        """Seed, and say which datasets were added."""
        try:
            owner = get_user_model().objects.get_by_natural_key(options["owner"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {options['owner']!r}") from None
        created = samples_seed(owner=owner)
        for dataset in created:
            self.stdout.write(f"added {dataset.name!r} ({dataset.batches.count()} batches, trained)")
        if not created:
            self.stdout.write(f"{owner.get_username()} already has the sample datasets")
