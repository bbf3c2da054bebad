"""Retention: prune_readings removes whole UTC months of raw readings before a boundary (on
PostgreSQL by dropping their partitions), keeps everything newer and every other table,
corrects the channels' spans and counts, and records the boundary for the API."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, Max, Min

from meters import partitions
from meters.models import Channel, Reading, RetentionBoundary
from tests.factories import ChannelFactory
from tests.meters.api.conftest import add_readings

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's readings are not partitioned"
)
NOW = datetime(2024, 3, 15, 12, tzinfo=UTC)
MARCH = datetime(2023, 3, 1, tzinfo=UTC)
DAY = 96  # readings


def stored_spans() -> None:
    """Each channel's span and count from its readings, as the ingest keeps them."""
    for channel in Channel.objects.all():
        span = channel.readings.aggregate(
            first=Min("timestamp"), last=Max("timestamp"), n=Count("*")
        )
        channel.first_reading_at, channel.last_reading_at = span["first"], span["last"]
        channel.reading_count = span["n"]
        channel.save()


@pytest.fixture
def channels(db):
    """Three channels: one from January to April 2023, one only in February, one only in
    April."""
    whole, february, april = ChannelFactory(), ChannelFactory(), ChannelFactory()
    add_readings(whole, datetime(2023, 1, 1, tzinfo=UTC), 120 * DAY)
    add_readings(february, datetime(2023, 2, 10, tzinfo=UTC), 3 * DAY)
    add_readings(april, datetime(2023, 4, 2, tzinfo=UTC), DAY)
    stored_spans()
    return [Channel.objects.get(pk=c.pk) for c in (whole, february, april)]


def test_the_boundary_is_the_start_of_the_utc_month_of_the_cutoff():
    assert partitions.retention_boundary(older_than=timedelta(days=365), now=NOW) == MARCH


def test_prune_removes_the_readings_before_the_boundary_and_keeps_the_rest(channels):
    whole, _, april = channels

    pruned = partitions.prune_readings(before=MARCH, now=NOW)

    assert not Reading.objects.filter(timestamp__lt=MARCH).exists()
    assert Reading.objects.filter(channel=whole).count() == (31 + 30) * DAY
    assert Reading.objects.filter(channel=april).count() == DAY
    assert pruned.readings == (59 + 3) * DAY
    assert pruned.channels == 2


def test_prune_leaves_each_channel_span_and_count_true(channels):
    whole, february, april = channels

    partitions.prune_readings(before=MARCH, now=NOW)

    whole.refresh_from_db()
    assert (whole.first_reading_at, whole.last_reading_at) == (
        MARCH,
        datetime(2023, 4, 30, 23, 45, tzinfo=UTC),
    )
    assert whole.reading_count == Reading.objects.filter(channel=whole).count()
    assert whole.data_changed_at == NOW
    february.refresh_from_db()
    assert (february.first_reading_at, february.last_reading_at) == (None, None)
    assert february.reading_count == 0
    april_before = april
    april = Channel.objects.get(pk=april.pk)
    assert (april.first_reading_at, april.reading_count, april.data_changed_at) == (
        april_before.first_reading_at,
        DAY,
        april_before.data_changed_at,
    )


def test_prune_records_the_boundary_for_the_api(channels):
    assert partitions.raw_readings_since() is None

    partitions.prune_readings(before=MARCH, now=NOW)
    partitions.prune_readings(before=datetime(2023, 1, 1, tzinfo=UTC), now=NOW)

    # A later prune of a longer period cannot bring readings back.
    assert partitions.raw_readings_since() == MARCH


def test_a_dry_run_says_what_would_go_and_removes_nothing(channels):
    before = Reading.objects.count()

    would = partitions.prune_readings(before=MARCH, now=NOW, dry_run=True)

    assert (would.readings, would.channels) == ((59 + 3) * DAY, 2)
    assert Reading.objects.count() == before
    assert not RetentionBoundary.objects.exists()
    assert partitions.raw_readings_since() is None


@postgres_only
def test_prune_drops_whole_partitions_older_than_the_boundary_only(channels):
    # The readings arrived in the DEFAULT partition (no 2023 partitions in the test database).
    pruned = partitions.prune_readings(before=MARCH, now=NOW)

    assert pruned.partitions == {
        "meters_reading_2023_01": 31 * DAY,
        "meters_reading_2023_02": 31 * DAY,
    }
    names = {p.name for p in partitions.partitions()}
    assert {"meters_reading_2023_03", "meters_reading_2023_04"} <= names
    assert not names & {"meters_reading_2023_01", "meters_reading_2023_02"}


@postgres_only
def test_prune_touches_no_table_but_the_readings_partitions(channels):
    with connection.cursor() as cursor:
        # A rollup-like table and a table named like a partition but not attached.
        cursor.execute("CREATE TABLE meters_probe_rollup (hour timestamptz, total numeric)")
        cursor.execute("INSERT INTO meters_probe_rollup VALUES ('2023-01-01', 1)")
        cursor.execute("CREATE TABLE meters_reading_2022_12 (LIKE meters_reading)")
        cursor.execute("INSERT INTO meters_reading_2022_12 VALUES (1, '2022-12-01', 1, 'm', 'e')")

        partitions.prune_readings(before=MARCH, now=NOW)

        for table in ("meters_probe_rollup", "meters_reading_2022_12"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            assert cursor.fetchone() == (1,)


def test_the_command_prunes_whole_months_older_than_the_period(db, capsys):
    now = datetime.now(UTC)
    channel = ChannelFactory()
    old = partitions.month_start(now - timedelta(days=800))
    add_readings(channel, old, DAY)
    add_readings(channel, now - timedelta(days=10), 4)
    stored_spans()

    call_command("prune_readings", "--older-than", "365d")

    assert Reading.objects.count() == 4
    boundary = partitions.month_start(now - timedelta(days=365))
    assert partitions.raw_readings_since() == boundary
    assert capsys.readouterr().out.endswith(
        f"removed {DAY} raw readings before {boundary:%Y-%m-%dT%H:%M:%SZ} of 1 channels; "
        "their spans and counts are corrected\n"
    )


def test_retention_is_off_unless_configured(db, capsys, settings):
    settings.METERS_RETENTION_DAYS = 0
    add_readings(ChannelFactory(), datetime(2001, 1, 1, tzinfo=UTC), 4)

    call_command("prune_readings")

    assert capsys.readouterr().out == "retention is off (METERS_RETENTION_DAYS=0): nothing pruned\n"
    assert Reading.objects.count() == 4


def test_the_configured_period_applies_without_an_argument(db, settings):
    settings.METERS_RETENTION_DAYS = 400
    add_readings(ChannelFactory(), datetime(2001, 1, 1, tzinfo=UTC), 4)
    stored_spans()

    call_command("prune_readings", verbosity=0)

    assert Reading.objects.count() == 0


@pytest.mark.parametrize("period", ["365", "0d", "-3d", "1y", ""])
def test_a_malformed_period_is_refused_in_one_line(db, period):
    with pytest.raises(CommandError, match="a number of days such as 365d"):
        call_command("prune_readings", f"--older-than={period}")
