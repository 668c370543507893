"""Every dataset has an owner, and names are unique per owner rather than site-wide."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("regression", "0002_dataset_owner"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="dataset",
            name="owner",
            field=models.ForeignKey(
                help_text="Who sees and changes it (staff see all). Delete a user's datasets before the user.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="datasets",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="dataset",
            name="name",
            field=models.CharField(help_text="Unique among its owner's datasets.", max_length=200),
        ),
        migrations.AddConstraint(
            model_name="dataset",
            constraint=models.UniqueConstraint(fields=("owner", "name"), name="regression_dataset_unique_owner_name"),
        ),
    ]
