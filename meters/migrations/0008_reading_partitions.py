"""Readings keyed by (channel, timestamp), partitioned by month on PostgreSQL.

Django does not migrate a table to a composite primary key (docs: "Migrating to a composite
primary key"), so the model state changes on its own and the table is rebuilt here, its
readings kept: renamed aside, created anew from the new state (on PostgreSQL as a table
partitioned by RANGE (timestamp), with a DEFAULT partition, a partition per UTC month that holds
readings and the months ahead, see meters/partitions.py), filled with one INSERT .. SELECT, and
the old table dropped. The way back rebuilds the table with its id.
"""

from django.db import migrations, models
from django.utils import timezone

from meters import partitions

COLUMNS = "channel_id, timestamp, value, quality, measurement"


def to_composite_key(apps, schema_editor):
    Reading = apps.get_model("meters", "Reading")
    table = Reading._meta.db_table
    aside = f"{table}_with_id"
    postgres = schema_editor.connection.vendor == "postgresql"
    schema_editor.execute(f"ALTER TABLE {table} RENAME TO {aside}")
    # The columns of fixed width first: no padding before channel_id (8 bytes a reading).
    columns = ", ".join(
        f"{Reading._meta.get_field(name).column} "
        f"{Reading._meta.get_field(name).db_type(schema_editor.connection)} NOT NULL"
        for name in ("channel", "timestamp", "value", "quality", "measurement")
    )
    sql = f"CREATE TABLE {table} ({columns}, PRIMARY KEY (channel_id, timestamp))"
    if postgres:
        # The new primary key takes the name the old one had.
        schema_editor.execute(
            f"ALTER TABLE {aside} RENAME CONSTRAINT {table}_pkey TO {aside}_pkey"
        )
        schema_editor.execute(f"{sql} PARTITION BY RANGE (timestamp)")
        schema_editor.execute(f"CREATE TABLE {partitions.DEFAULT_PARTITION} PARTITION OF {table} DEFAULT")
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT date_trunc('month', timestamp, 'UTC') FROM {aside} "
                "WHERE timestamp >= %s AND timestamp < %s",
                [partitions.EARLIEST, partitions.LATEST],
            )
            months = {month for (month,) in cursor.fetchall()}
            month = partitions.month_start(timezone.now())
            for _ in range(partitions.MONTHS_AHEAD + 1):
                months.add(month)
                month = partitions.next_month(month)
            partitions.create_month_partitions(cursor, sorted(months))
    else:
        schema_editor.execute(sql)
    schema_editor.execute(f"INSERT INTO {table} ({COLUMNS}) SELECT {COLUMNS} FROM {aside}")
    schema_editor.execute(f"DROP TABLE {aside}")


def to_single_key(apps, schema_editor):
    """Back to the table with an id (the state before this migration), readings kept."""
    Reading = apps.get_model("meters", "Reading")
    table = Reading._meta.db_table
    aside = f"{table}_composite"
    schema_editor.execute(f"ALTER TABLE {table} RENAME TO {aside}")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {aside} RENAME CONSTRAINT {table}_pkey TO {aside}_pkey")
    schema_editor.create_model(Reading)
    schema_editor.execute(
        f"INSERT INTO {table} ({COLUMNS}) SELECT {COLUMNS} FROM {aside} "
        "ORDER BY channel_id, timestamp"
    )
    # On PostgreSQL its partitions go with it.
    schema_editor.execute(f"DROP TABLE {aside}")


class Migration(migrations.Migration):

    dependencies = [
        ('meters', '0007_unit_queued_at'),
    ]

    operations = [
        # First on the way back: it runs with the state that has the id.
        migrations.RunPython(migrations.RunPython.noop, to_single_key),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(
                    model_name='reading',
                    name='reading_unique_channel_timestamp',
                ),
                migrations.RemoveField(
                    model_name='reading',
                    name='id',
                ),
                migrations.AddField(
                    model_name='reading',
                    name='pk',
                    field=models.CompositePrimaryKey('channel', 'timestamp', blank=True, editable=False, primary_key=True, serialize=False),
                ),
            ],
        ),
        migrations.RunPython(to_composite_key, migrations.RunPython.noop),
        migrations.CreateModel(
            name='RetentionBoundary',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('raw_since', models.DateTimeField(help_text='Raw readings before this instant are pruned.')),
                ('pruned_at', models.DateTimeField()),
            ],
            options={
                'ordering': ['-raw_since'],
            },
        ),
    ]
