"""Background training: per-update coverage and attempts on BatchRun, and the TrainingState queue/lease row."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('regression', '0003_dataset_owner_required'),
    ]

    operations = [
        migrations.AddField(
            model_name='batchrun',
            name='attempts',
            field=models.PositiveIntegerField(default=1, help_text='Workers that started this update (over 1: earlier ones crashed or failed).'),
        ),
        migrations.AddField(
            model_name='batchrun',
            name='first_batch',
            field=models.PositiveIntegerField(default=1, help_text='This update took in batches first_batch..batch.number (more than one when folded).'),
        ),
        migrations.CreateModel(
            name='TrainingState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('mode', models.CharField(choices=[('incremental', 'incremental (exact, from sufficient statistics)'), ('naive', 'naive (every iteration over all rows)'), ('delta', "delta (the seed's approximate incremental gradient)")], max_length=20)),
                ('status', models.CharField(choices=[('queued', 'queued: a task is on its way to a worker'), ('running', 'running: a worker holds the lease'), ('done', 'done: the model covers every requested batch'), ('failed', 'failed: gave up after an error; a new batch queues it again')], default='queued', max_length=10)),
                ('requested', models.PositiveIntegerField(default=0, help_text='Batch count the model must reach.')),
                ('covered', models.PositiveIntegerField(default=0, help_text='Batch count the last recorded model covers.')),
                ('first_batch', models.PositiveIntegerField(default=1, help_text='The current or last training takes in batches first_batch..requested.')),
                ('iteration', models.PositiveIntegerField(blank=True, help_text='Iteration reached by the current run.', null=True)),
                ('loss', models.FloatField(blank=True, help_text='Loss at that iteration.', null=True)),
                ('attempts', models.PositiveIntegerField(default=0, help_text='Workers that started the current work.')),
                ('error', models.TextField(blank=True, help_text='The last failure (kept until the work succeeds).')),
                ('lease_owner', models.CharField(blank=True, help_text='host:pid:task of the worker holding it.', max_length=200)),
                ('lease_expires', models.DateTimeField(blank=True, null=True)),
                ('queued_at', models.DateTimeField(blank=True, help_text='When the last task for it was sent.', null=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('dataset', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='training_states', to='regression.dataset')),
            ],
            options={
                'ordering': ['dataset', 'mode'],
                'indexes': [models.Index(fields=['status', 'lease_expires'], name='regression_training_sweep')],
                'constraints': [models.UniqueConstraint(fields=('dataset', 'mode'), name='regression_trainingstate_unique_dataset_mode')],
            },
        ),
    ]
