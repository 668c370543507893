"""Datasets get an owner: added nullable, and any existing dataset is given to the first superuser.

With no superuser, existing datasets go to an inactive user ``unowned-datasets`` (no usable
password) that staff can reassign in the admin.  0003 then makes the owner required.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def assign_owners(apps, schema_editor):
    Dataset = apps.get_model("regression", "Dataset")
    orphans = Dataset.objects.filter(owner__isnull=True)
    if not orphans.exists():
        return
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    owner = User.objects.filter(is_superuser=True).order_by("pk").first()
    if owner is None:
        owner, _ = User.objects.get_or_create(
            username="unowned-datasets", defaults={"is_active": False, "password": "!"}
        )
    orphans.update(owner=owner)


class Migration(migrations.Migration):

    dependencies = [
        ("regression", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="dataset",
            name="owner",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="datasets",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(assign_owners, migrations.RunPython.noop),
    ]
