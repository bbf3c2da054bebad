"""Readings keyed by (channel, timestamp), in monthly partitions on PostgreSQL: the migration
that converts a stored table, partitions created ahead, a reading of a month without a
partition, and the composite key in the admin and the API's pages."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from meters import partitions
from meters.ingest import ingest_location
from meters.models import Reading
from tests.factories import INTERVAL, ChannelFactory, feed_document, feed_series
from tests.meters.api.conftest import READINGS, add_readings

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's readings are not partitioned"
)
BEFORE = ("meters", "0007_unit_queued_at")
MUID = "7e4b0f4c-52a4-4f4e-9a55-0c1f8d1f5a01"


def where_stored() -> dict[str, int]:
    """Readings per table that holds them (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text, COUNT(*) FROM {partitions.READINGS} GROUP BY 1"
        )
        return dict(cursor.fetchall())


def primary_key_columns() -> list[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, partitions.READINGS)
    return next(c["columns"] for c in constraints.values() if c["primary_key"])


@pytest.mark.django_db(transaction=True)
def test_the_migration_keys_a_stored_table_by_channel_and_timestamp_keeping_its_readings():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps
    unit = old.get_model("meters", "Unit").objects.create(muid=MUID)
    channel = old.get_model("meters", "Channel").objects.create(unit=unit, obis="0100011D00FF")
    moments = [
        datetime(2023, 1, 31, 23, 45, tzinfo=UTC),
        datetime(2023, 2, 1, tzinfo=UTC),
        datetime(2023, 2, 1, 0, 15, tzinfo=UTC),
        datetime(2031, 7, 4, 12, tzinfo=UTC),
    ]
    old.get_model("meters", "Reading").objects.bulk_create(
        old.get_model("meters", "Reading")(
            channel=channel, timestamp=moment, value=Decimal(i), quality="measured"
        )
        for i, moment in enumerate(moments)
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    stored = Reading.objects.order_by("pk").values_list("channel_id", "timestamp", "value")
    assert list(stored) == [(channel.pk, moment, Decimal(i)) for i, moment in enumerate(moments)]
    assert primary_key_columns() == ["channel_id", "timestamp"]
    if connection.vendor == "postgresql":
        assert partitions.is_partitioned()
        assert where_stored() == {
            "meters_reading_2023_01": 1,
            "meters_reading_2023_02": 2,
            "meters_reading_2031_07": 1,
        }
        names = [p.name for p in partitions.partitions()]
        assert partitions.partition_name(partitions.month_start(datetime.now(UTC))) in names
        assert partitions.DEFAULT_PARTITION in names


@postgres_only
def test_partitions_are_created_for_the_current_month_and_the_months_ahead(db):
    now = datetime(2031, 11, 20, 8, tzinfo=UTC)

    changes = partitions.create_partitions(months_ahead=2, now=now)

    assert changes.created == [
        "meters_reading_2031_11",
        "meters_reading_2031_12",
        "meters_reading_2032_01",
    ]
    december = next(p for p in partitions.partitions() if p.name == "meters_reading_2031_12")
    assert (december.start, december.end) == (
        datetime(2031, 12, 1, tzinfo=UTC),
        datetime(2032, 1, 1, tzinfo=UTC),
    )
    assert partitions.create_partitions(months_ahead=2, now=now).created == []


@postgres_only
def test_partitions_are_created_from_a_month_in_the_past_before_a_load_of_history(db):
    now = datetime(2031, 11, 20, 8, tzinfo=UTC)

    created = partitions.create_partitions(
        months_ahead=0, now=now, since=datetime(2031, 9, 9, tzinfo=UTC)
    ).created

    assert created == ["meters_reading_2031_09", "meters_reading_2031_10", "meters_reading_2031_11"]


@postgres_only
def test_the_command_creates_the_months_ahead_and_says_which(db, capsys):
    # The migration made the current month and MONTHS_AHEAD more.
    ahead = partitions.MONTHS_AHEAD + 1
    call_command("create_partitions", "--months-ahead", str(ahead))

    month = partitions.month_start(datetime.now(UTC))
    for _ in range(ahead):
        month = partitions.next_month(month)
    assert capsys.readouterr().out == f"created {partitions.partition_name(month)}\n"
    call_command("create_partitions", "--months-ahead", str(ahead))
    assert capsys.readouterr().out == "every partition was there already\n"


def test_a_reading_of_a_month_without_partition_is_ingested_and_later_moved_into_one(tmp_path, db):
    # No partition holds 2031 (the test database has the months around today).
    start = datetime(2031, 1, 31, 23, tzinfo=UTC)
    path = tmp_path / "feed.json"
    path.write_bytes(feed_document(feed_series(MUID, start, 8, value=0.5)))

    report = ingest_location(str(path))

    assert report.ok, report.error
    assert report.inserted == 8
    if connection.vendor != "postgresql":
        return
    assert where_stored() == {partitions.DEFAULT_PARTITION: 8}

    changes = partitions.create_partitions(months_ahead=0, now=start)

    assert changes.moved == {"meters_reading_2031_01": 4, "meters_reading_2031_02": 4}
    assert where_stored() == {"meters_reading_2031_01": 4, "meters_reading_2031_02": 4}
    # The ingest goes on writing there: an unchanged document changes nothing, a new value
    # updates its reading in its partition.
    assert ingest_location(str(path)).unchanged == 8
    records = feed_series(MUID, start, 8, value=0.5)
    records[0][next(iter(k for k in records[0] if k.isupper()))] = 0.75
    path.write_bytes(feed_document(records))
    assert ingest_location(str(path)).updated == 1
    assert Reading.objects.get(timestamp=start + 7 * INTERVAL).value == Decimal("0.75")
    assert where_stored() == {"meters_reading_2031_01": 4, "meters_reading_2031_02": 4}


@postgres_only
def test_readings_outside_the_service_bounds_stay_in_the_default_partition(db):
    channel = ChannelFactory()
    far = datetime(1960, 1, 1, tzinfo=UTC)
    add_readings(channel, far, 1)
    add_readings(channel, datetime(2031, 3, 1, tzinfo=UTC), 1)

    partitions.create_partitions(months_ahead=0, now=datetime(2031, 3, 1, tzinfo=UTC))

    assert where_stored() == {partitions.DEFAULT_PARTITION: 1, "meters_reading_2031_03": 1}


@postgres_only
def test_a_time_bounded_query_reads_only_the_partitions_of_its_months(db):
    partitions.create_partitions(months_ahead=3, now=datetime(2031, 1, 1, tzinfo=UTC))
    june = Reading.objects.filter(
        timestamp__gte=datetime(2031, 2, 1, tzinfo=UTC),
        timestamp__lt=datetime(2031, 3, 1, tzinfo=UTC),
    )

    plan = june.explain()

    assert "meters_reading_2031_02" in plan
    assert not re.search(r"meters_reading_(2031_0[134]|default)", plan)


@postgres_only
def test_the_row_estimate_adds_up_the_analysed_partitions(db):
    channel = ChannelFactory()
    add_readings(channel, datetime(2031, 1, 31, tzinfo=UTC), 200)
    partitions.create_partitions(months_ahead=0, now=datetime(2031, 1, 1, tzinfo=UTC))
    with connection.cursor() as cursor:
        # As autovacuum does: the partitions, never the partitioned table.
        for table in partitions.leaf_tables(cursor):
            cursor.execute(f"ANALYZE {table}")

        assert partitions.estimated_readings(cursor) == 200


def test_the_admin_links_each_reading_to_its_page_by_its_composite_key(admin_client):
    channel = ChannelFactory()
    add_readings(channel, datetime(2023, 2, 1, tzinfo=UTC), 2, value="0.125")
    add_readings(channel, datetime(2023, 2, 2, tzinfo=UTC), 1, value="7.5")

    listing = admin_client.get("/admin/meters/reading/").content.decode()
    links = re.findall(r'href="(/admin/meters/reading/[^"]+/change/)"', listing)

    assert len(links) == 3
    page = admin_client.get(links[0])
    assert page.status_code == 200
    assert "7.500000" in page.content.decode()


def test_the_api_pages_through_readings_across_months_once_each(staff_client, db):
    # Two channels sharing every timestamp, across the end of a month (and a partition).
    start = datetime(2031, 1, 31, 23, tzinfo=UTC)
    for channel in (ChannelFactory(), ChannelFactory()):
        add_readings(channel, start, 8)
    if connection.vendor == "postgresql":
        partitions.create_partitions(months_ahead=0, now=start)

    page = staff_client.get(READINGS, {"page_size": 3}).json()
    seen = page["results"]
    while page["next"]:
        page = staff_client.get(page["next"]).json()
        seen += page["results"]

    keys = [(row["timestamp"], row["muid"]) for row in seen]
    assert len(set(keys)) == len(keys) == 16
    assert [row["timestamp"] for row in seen] == sorted(row["timestamp"] for row in seen)


def test_a_reading_is_found_by_its_pair_of_channel_and_timestamp(db):
    channel = ChannelFactory()
    moment = datetime(2023, 2, 1, tzinfo=UTC)
    add_readings(channel, moment, 3)

    reading = Reading.objects.get(pk=(channel.pk, moment + timedelta(minutes=15)))

    assert reading.pk == (channel.pk, moment + timedelta(minutes=15))
