"""Create the database cache's table (SALSAWEB_CACHE_URL=db://..., the default): `migrate` is all a deployment runs."""
from typing import Any

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps: Any, schema_editor: Any) -> None:
    """``createcachetable`` on the database being migrated: creates what is missing, leaves the rest."""
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    """The cache table: rate-limit and sign-in counts shared by every web process."""

    dependencies: list[tuple[str, str]] = []

    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop, elidable=True)]
