"""Store each live batch's statistics beside its rows (the ``batch_moments`` input the statistics tree now reads).

Batches accepted before this migration have only their rows in the runtime namespace; this
computes their statistics once from those rows.  It uses the runtime of today's code (the
memo store's tables are at their latest migration, a dependency below), as inputs are not
Django models.
"""
from django.db import migrations


def batch_moments_backfill(apps, schema_editor):
    """Set ``batch_moments`` for every live batch of every dataset, one engine revision per dataset."""
    from runtime import Runtime
    from runtime.db import DatabaseStorage
    from salsaweb.regression import inputs
    from salsaweb.regression.moments import moments_of

    Batch = apps.get_model("regression", "Batch")
    Dataset = apps.get_model("regression", "Dataset")
    for dataset in Dataset.objects.using(schema_editor.connection.alias).iterator():
        numbers = list(Batch.objects.filter(dataset=dataset, deleted_at__isnull=True).values_list("number", flat=True))
        if not numbers:
            continue
        rt = Runtime(storage=DatabaseStorage(namespace=dataset.namespace))
        with rt.transaction():
            for number in numbers:
                if inputs.batch.has(rt, number) and not inputs.batch_moments.has(rt, number):
                    inputs.batch_moments.set(rt, number, moments_of(*inputs.batch(rt, number)))


class Migration(migrations.Migration):

    dependencies = [
        ("regression", "0008_batchrun_work_and_admin_names"),
        ("runtime", "0006_maintained_memos_and_input_versions"),
    ]

    operations = [migrations.RunPython(batch_moments_backfill, migrations.RunPython.noop, elidable=True)]
