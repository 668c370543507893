"""Maintained memos, old input versions and transactions.

``Memo.maintained`` and ``input_count``; a maintained memo's input edges carry ``read_at``
(the version read) and are looked up by (memo, key), so edge positions are numbered per kind.
``InputVersion`` keeps overwritten input versions that such edges still name.  An index on
``InputValue(namespace, changed_at)`` answers "which inputs changed since r", and the revision
log allows several entries per revision (a transaction's writes).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('runtime', '0005_memo_verification'),
    ]

    operations = [
        migrations.CreateModel(
            name='InputVersion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('function', models.CharField(max_length=300)),
                ('args_key', models.TextField(help_text='Canonical text of the normalized keys.')),
                ('key_digest', models.CharField(max_length=40)),
                ('changed_at', models.BigIntegerField(help_text='The revision this version was set (or deleted) at.')),
                ('value', models.BinaryField(null=True)),
                ('deleted', models.BooleanField(default=False)),
                ('archived_at', models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.RemoveConstraint(
            model_name='memodependency',
            name='runtime_edge_unique_position',
        ),
        migrations.RemoveConstraint(
            model_name='revisionlog',
            name='runtime_log_one_per_revision',
        ),
        migrations.AddField(
            model_name='memo',
            name='input_count',
            field=models.PositiveIntegerField(default=0, help_text='How many inputs a maintained memo depends on.'),
        ),
        migrations.AddField(
            model_name='memo',
            name='maintained',
            field=models.BooleanField(default=False, help_text='Its function called changes(): its input edges carry over between executions.'),
        ),
        migrations.AddField(
            model_name='memodependency',
            name='read_at',
            field=models.BigIntegerField(blank=True, help_text="A maintained memo's input edge: the changed_at of the version it read.", null=True),
        ),
        migrations.AddIndex(
            model_name='inputvalue',
            index=models.Index(fields=['namespace', 'changed_at'], name='runtime_input_ns_changed'),
        ),
        migrations.AddIndex(
            model_name='revisionlog',
            index=models.Index(fields=['namespace', 'revision'], name='runtime_log_ns_revision'),
        ),
        migrations.AddConstraint(
            model_name='memodependency',
            constraint=models.UniqueConstraint(fields=('memo', 'kind', 'position'), name='runtime_edge_unique_kind_position'),
        ),
        migrations.AddConstraint(
            model_name='memodependency',
            constraint=models.UniqueConstraint(fields=('memo', 'key_digest'), name='runtime_edge_unique_key'),
        ),
        migrations.AddField(
            model_name='inputversion',
            name='namespace',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='runtime.namespace'),
        ),
        migrations.AddConstraint(
            model_name='inputversion',
            constraint=models.UniqueConstraint(fields=('namespace', 'key_digest', 'changed_at'), name='runtime_version_unique'),
        ),
    ]
