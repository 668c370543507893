"""Re-verification moves to a narrow table of its own.

``Memo.verified_at`` becomes ``executed_at`` (its value is kept: for existing rows it is the
last revision they were executed or verified at, which is what the store reads it as) and
loses its index; later re-verifications are written to ``Verification`` rows.
"""

import django.db.models.deletion
from django.db import migrations, models

import runtime.db.models


class Migration(migrations.Migration):

    dependencies = [
        ("runtime", "0004_function_code"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="memo", name="runtime_memo_ns_verified"),
        migrations.RenameField(model_name="memo", old_name="verified_at", new_name="executed_at"),
        migrations.AlterField(
            model_name="memo",
            name="executed_at",
            field=models.BigIntegerField(help_text="The revision of the execution that wrote this value."),
        ),
        migrations.CreateModel(
            name="Verification",
            fields=[
                (
                    "memo",
                    runtime.db.models.RowIdOneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="verification",
                        serialize=False,
                        to="runtime.memo",
                    ),
                ),
                ("verified_at", models.BigIntegerField()),
            ],
        ),
    ]
