from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from meters.models import Reading
from meters.moments import local_midnight
from meters.selectors import (
    Agg,
    Interval,
    bucket_bounds,
    bucket_start,
    readings_aggregate,
    visible_channels,
)
from tests.factories import ChannelFactory
from tests.meters.api.conftest import add_readings

ZURICH = ZoneInfo("Europe/Zurich")


def days_of(year: int):
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)


def test_a_day_bucket_ends_at_the_next_local_midnight_across_both_dst_changes():
    bounds = bucket_bounds(interval=Interval.DAY, tz=ZURICH)

    spring, autumn = bounds(date(2023, 3, 26)), bounds(date(2023, 10, 29))

    assert [moment.isoformat() for moment in spring[:2]] == [
        "2023-03-26T00:00:00+01:00",
        "2023-03-27T00:00:00+02:00",
    ]
    assert [moment.isoformat() for moment in autumn[:2]] == [
        "2023-10-29T00:00:00+02:00",
        "2023-10-30T00:00:00+01:00",
    ]
    assert (spring[2], autumn[2]) == (92, 100)


# Santiago skips local midnight when DST starts; Lord Howe moves its clocks by half an hour.
@pytest.mark.parametrize("zone", ["Europe/Zurich", "America/Santiago", "Australia/Lord_Howe"])
def test_day_bounds_are_local_midnights_and_expect_a_reading_per_quarter_hour(zone):
    tz = ZoneInfo(zone)
    bounds = bucket_bounds(interval=Interval.DAY, tz=tz)

    for day in days_of(2023):
        start, end, expected = bounds(day)
        assert start == bucket_start(start, interval=Interval.DAY, tz=tz)
        assert (start, end) == (local_midnight(day, tz), local_midnight(day + timedelta(1), tz))
        assert expected == (end - start.astimezone(UTC)) // timedelta(minutes=15)
        assert expected in {92, 94, 96, 98, 100}


def test_week_and_month_buckets_end_where_the_next_one_starts():
    weeks = bucket_bounds(interval=Interval.WEEK, tz=ZURICH)
    months = bucket_bounds(interval=Interval.MONTH, tz=ZURICH)

    assert weeks(date(2023, 3, 20))[1:] == (local_midnight(date(2023, 3, 27), ZURICH), 668)
    assert months(date(2023, 3, 1))[1:] == (local_midnight(date(2023, 4, 1), ZURICH), 2972)
    assert months(date(2023, 12, 1))[1] == local_midnight(date(2024, 1, 1), ZURICH)


def test_the_hour_repeated_when_dst_ends_gives_two_buckets_with_their_own_offsets():
    bounds = bucket_bounds(interval=Interval.HOUR, tz=ZURICH)
    first = int(datetime(2023, 10, 29, 0, tzinfo=UTC).timestamp())

    hours = [bounds(first + 3600 * i) for i in range(2)]

    assert [(start.isoformat(), end.isoformat(), n) for start, end, n in hours] == [
        ("2023-10-29T02:00:00+02:00", "2023-10-29T02:00:00+01:00", 4),
        ("2023-10-29T02:00:00+01:00", "2023-10-29T03:00:00+01:00", 4),
    ]


def test_a_quarter_hour_bucket_expects_one_reading():
    bounds = bucket_bounds(interval=Interval.MINUTES_15, tz=ZoneInfo("Asia/Kolkata"))

    start, end, expected = bounds(int(datetime(2023, 10, 28, 0, 30, tzinfo=UTC).timestamp()))

    assert (start.isoformat(), end.isoformat(), expected) == (
        "2023-10-28T06:00:00+05:30",
        "2023-10-28T06:15:00+05:30",
        1,
    )


def test_buckets_are_ordered_by_muid_obis_and_start_whatever_the_insertion_order(db):
    channels = [ChannelFactory(), ChannelFactory(), ChannelFactory()]
    for channel in reversed(channels):
        add_readings(channel, datetime(2023, 3, 25, 12, tzinfo=UTC), 2 * 96)

    buckets = list(
        readings_aggregate(
            interval=Interval.DAY,
            agg=Agg.COUNT,
            tz=ZURICH,
        )
    )

    assert [(b.muid, b.obis, b.start) for b in buckets] == sorted(
        (str(channel.unit.muid), channel.obis, local_midnight(date(2023, 3, day), ZURICH))
        for channel in channels
        for day in (25, 26, 27)
    )
    assert [(b.count, b.expected) for b in buckets[:3]] == [(44, 96), (92, 92), (56, 96)]


@pytest.mark.parametrize("interval", list(Interval))
@pytest.mark.parametrize("agg", list(Agg))
def test_each_bucket_holds_the_aggregate_of_its_readings_as_exact_python_values(
    challenge_data, interval, agg
):
    """Computed again in Python from the readings; on PostgreSQL the rows reach the buckets
    without Django's converters (see selectors._joined_to_channels), so the types are checked
    too."""
    tz = ZoneInfo("America/New_York")
    groups = defaultdict(list)
    for muid, obis, timestamp, value in Reading.objects.values_list(
        "channel__unit__muid", "channel__obis", "timestamp", "value"
    ):
        start = bucket_start(timestamp, interval=interval, tz=tz)
        groups[(str(muid), obis, start)].append(value)
    expected = {
        key: {
            Agg.SUM: lambda v: sum(v),
            # Half away from zero, as PostgreSQL rounds (SQLite's average of floats may
            # land either side of a half: see below).
            Agg.AVG: lambda v: (sum(v) / len(v)).quantize(Decimal("0.000001"), ROUND_HALF_UP),
            Agg.MIN: min,
            Agg.MAX: max,
            Agg.COUNT: len,
        }[agg](values)
        for key, values in groups.items()
    }

    buckets = list(readings_aggregate(interval=interval, agg=agg, tz=tz))

    values = {(b.muid, b.obis, b.start): b.value for b in buckets}
    if agg is Agg.AVG and connection.vendor == "sqlite":
        assert values.keys() == expected.keys()
        assert all(abs(values[key] - expected[key]) <= Decimal("0.000001") for key in values)
    else:
        assert values == expected
    assert {(type(b.value), type(b.count), type(b.expected)) for b in buckets} == {
        (int if agg is Agg.COUNT else Decimal, int, int)
    }
    assert all(type(b.start) is type(b.end) is datetime for b in buckets)


def test_no_user_aggregates_nothing_and_the_database_is_not_asked(db, django_assert_num_queries):
    add_readings(ChannelFactory(), datetime(2023, 3, 25, tzinfo=UTC), 96)

    with django_assert_num_queries(0):
        buckets = readings_aggregate(
            channels=visible_channels(user=None), interval=Interval.DAY, agg=Agg.SUM, tz=ZURICH
        )
        assert list(buckets) == []
