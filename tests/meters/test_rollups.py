"""Rollups: kept by the ingest in the transaction that writes the readings, rebuilt by a
command, and read by the aggregates only where they give exactly the buckets of the readings."""

import io
import itertools
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meters import rollups, selectors
from meters.ingest import ingest_location
from meters.models import DayRollup, HourRollup, Reading, RollupStatus
from meters.partitions import prune_readings
from meters.selectors import Agg, Interval, Piece, readings_aggregate, rollup_cover
from tests.factories import EXPORT, IMPORT, INTERVAL, ChannelFactory, feed_record

# Zones whose buckets the rollups serve (that of the day rollups, whole-hour ones) and one
# they do not.
ZONES = ["Europe/Zurich", "UTC", "America/New_York", "Asia/Kathmandu"]
YEAR = datetime(2023, 1, 1, tzinfo=UTC)
MUID = "6b1f4c52-8d6a-4a7e-9d0e-2f3c4b5a6d7e"
OTHER = "0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"


def value(i: int, *, scale: int = 1) -> Decimal:
    """A value that varies without pattern across a day, with 6 decimals."""
    return Decimal((i * 7919 * scale) % 100_003) / Decimal(1_000_000)


def records(
    muid: str, obis: str, start: datetime, count: int, *, scale: int = 1, gaps: bool = False
) -> list[dict]:
    """15-minute records; with `gaps`, the first day and a half of every 40 days missing."""
    return [
        feed_record(start + i * INTERVAL, float(value(i, scale=scale)), muid=muid, obis=obis)
        for i in range(count)
        if not gaps or i % (40 * 96) >= 144
    ]


def write(tmp_path, name: str, data: list[dict]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"data": data}))
    return str(path)


def ingested(tmp_path, name: str, data: list[dict]) -> None:
    report = ingest_location(write(tmp_path, name, data))
    assert report.ok, report.error
    assert report.rejected == 0, report.rejections


@pytest.fixture
def year(db, tmp_path):
    """A year of one unit's import (DST both ways, gaps), two months of another's export, and
    a re-ingest that changes a week of values: every write path of the rollups."""
    ingested(tmp_path, "import", records(MUID, IMPORT, YEAR, 365 * 96, gaps=True))
    march = datetime(2023, 3, 1, tzinfo=UTC)
    ingested(tmp_path, "export", records(OTHER, EXPORT, march, 61 * 96, gaps=True))
    changed = datetime(2023, 10, 25, 7, 15, tzinfo=UTC)
    ingested(tmp_path, "changed", records(MUID, IMPORT, changed, 7 * 96, scale=3))


def buckets(**query) -> list:
    return list(readings_aggregate(**query))


def from_readings(**query) -> list:
    """The same buckets with the rollups marked incomplete: computed from the readings."""
    RollupStatus.objects.update(complete=False)
    try:
        return buckets(**query)
    finally:
        RollupStatus.objects.update(complete=True)


def tables_read(**query) -> set[str]:
    with CaptureQueriesContext(connection) as queries:
        buckets(**query)
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    tables = {"readings": Reading, "hours": HourRollup, "days": DayRollup}
    return {name for name, model in tables.items() if model._meta.db_table in sql}


def test_rollups_give_the_buckets_of_the_readings_for_every_interval_agg_and_zone(year):
    ranges = {
        "open": (None, None),
        "cut": (
            datetime(2023, 3, 20, 10, 15, tzinfo=UTC),
            datetime(2023, 11, 3, 13, 45, tzinfo=UTC),
        ),
    }
    intervals = [Interval.HOUR, Interval.DAY, Interval.WEEK, Interval.MONTH]
    differing = []
    for zone, (name, (start, end)), interval, agg in itertools.product(
        ZONES, ranges.items(), intervals, list(Agg)
    ):
        query = {"start": start, "end": end, "interval": interval, "agg": agg}
        query["tz"] = ZoneInfo(zone)
        if buckets(**query) != from_readings(**query):
            differing.append((zone, name, interval, agg))

    assert differing == []
    assert len(buckets(interval=Interval.DAY, agg=Agg.SUM, tz=ZoneInfo("UTC"))) > 300


def test_the_days_of_dst_changes_keep_their_92_and_100_readings(year):
    days = buckets(
        start=datetime(2023, 3, 25, tzinfo=UTC),
        end=datetime(2023, 10, 31, tzinfo=UTC),
        interval=Interval.DAY,
        agg=Agg.COUNT,
        tz=ZoneInfo("Europe/Zurich"),
    )
    by_day = {b.start.date().isoformat(): (b.value, b.count, b.expected) for b in days}

    assert by_day["2023-03-26"] == (92, 92, 92)
    assert by_day["2023-10-29"] == (100, 100, 100)


@pytest.mark.parametrize(
    ("zone", "interval", "expected"),
    [
        ("Europe/Zurich", Interval.MONTH, {"days"}),
        ("Europe/Zurich", Interval.HOUR, {"hours"}),
        ("America/New_York", Interval.DAY, {"hours"}),
        ("UTC", Interval.WEEK, {"days", "hours"}),
        ("America/New_York", Interval.MONTH, {"days", "hours"}),
        ("Europe/Berlin", Interval.DAY, {"days"}),
        ("Asia/Kathmandu", Interval.DAY, {"readings"}),
        ("Asia/Kathmandu", Interval.MONTH, {"readings"}),
        ("Asia/Kolkata", Interval.HOUR, {"readings"}),
        ("Europe/Zurich", Interval.MINUTES_15, {"readings"}),
    ],
)
def test_each_zone_and_interval_reads_what_answers_it_exactly(year, zone, interval, expected):
    """The days of the day rollups' zone that lie wholly inside a bucket (all of them in that
    zone and in one with the same offsets, most days of a month or week elsewhere) and hours
    for the rest, where every offset is a whole hour; the readings otherwise. A range of whole
    periods reads nothing else."""
    tz = ZoneInfo(zone)
    start = datetime(2023, 2, 1, tzinfo=tz)
    end = datetime(2023, 5, 1, tzinfo=tz)

    assert tables_read(start=start, end=end, interval=interval, agg=Agg.SUM, tz=tz) == expected


def test_the_ends_of_a_range_cut_inside_a_day_are_read_from_hours_and_readings(year):
    tz = ZoneInfo("Europe/Zurich")
    query = {
        "start": datetime(2023, 2, 1, 10, 15, tzinfo=tz),
        "end": datetime(2023, 2, 20, 6, 45, tzinfo=tz),
        "interval": Interval.DAY,
        "agg": Agg.SUM,
        "tz": tz,
    }

    assert tables_read(**query) == {"days", "hours", "readings"}
    first = buckets(**query)[0]
    assert (first.count, first.expected) == (55, 96)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_month_elsewhere_is_its_whole_days_of_the_day_zone_and_the_hours_around_them():
    new_york = ZoneInfo("America/New_York")
    january = (datetime(2023, 1, 1, tzinfo=new_york), datetime(2023, 2, 1, tzinfo=new_york))

    pieces = rollup_cover(*january, interval=Interval.MONTH, tz=new_york, days=True, hours=True)

    # New York's January: 05:00 UTC on the 1st to 05:00 UTC on 1 February; Zurich's days
    # begin at 23:00 UTC.
    assert pieces == [
        Piece("hours", utc(2023, 1, 1, 5), utc(2023, 1, 1, 23)),
        Piece("days", utc(2023, 1, 1, 23), utc(2023, 1, 31, 23)),
        Piece("hours", utc(2023, 1, 31, 23), utc(2023, 2, 1, 5)),
    ]


def test_without_hours_the_cut_ends_of_days_in_the_day_zone_are_read_from_the_readings():
    zurich = ZoneInfo("Europe/Zurich")
    start = datetime(2023, 3, 1, 10, 15, tzinfo=zurich)
    end = datetime(2023, 3, 4, 6, 45, tzinfo=zurich)

    pieces = rollup_cover(start, end, interval=Interval.WEEK, tz=zurich, days=True, hours=False)

    assert pieces == [
        Piece("readings", start, datetime(2023, 3, 2, tzinfo=zurich)),
        Piece("days", datetime(2023, 3, 2, tzinfo=zurich), datetime(2023, 3, 4, tzinfo=zurich)),
        Piece("readings", datetime(2023, 3, 4, tzinfo=zurich), end),
    ]


def test_days_in_no_bucket_alone_leave_hours_and_readings_at_the_cut_ends():
    tz = ZoneInfo("UTC")
    start, end = utc(2023, 3, 1, 10, 15), utc(2023, 3, 2, 6, 45)

    pieces = rollup_cover(start, end, interval=Interval.DAY, tz=tz, days=True, hours=True)

    assert pieces == [
        Piece("readings", start, utc(2023, 3, 1, 11)),
        Piece("hours", utc(2023, 3, 1, 11), utc(2023, 3, 2, 6)),
        Piece("readings", utc(2023, 3, 2, 6), end),
    ]


def test_a_filter_by_quality_reads_the_readings(year):
    tz = ZoneInfo("UTC")
    query = {"interval": Interval.MONTH, "agg": Agg.SUM, "tz": tz, "qualities": ["measured"]}

    assert tables_read(**query) == {"readings"}


def test_a_re_ingest_that_changes_values_moves_the_sums_min_and_max(db, tmp_path):
    day = datetime(2023, 6, 1, tzinfo=ZoneInfo("Europe/Zurich"))
    ingested(tmp_path, "first", records(MUID, IMPORT, day, 96))
    data = records(MUID, IMPORT, day, 96)
    data[0][IMPORT] = 9.5  # the day's first interval
    data[-1][IMPORT] = 0  # and its last
    ingested(tmp_path, "second", data)

    (rollup,) = DayRollup.objects.all()
    values = list(Reading.objects.values_list("value", flat=True))
    assert rollup.value_sum == sum(values)
    assert (rollup.value_min, rollup.value_max) == (Decimal(0), Decimal("9.5"))
    assert rollup.reading_count == 96
    hours = HourRollup.objects.order_by("hour")
    assert (hours.first().value_max, hours.last().value_min) == (Decimal("9.5"), Decimal(0))
    assert sum(hour.value_sum for hour in hours) == rollup.value_sum


def test_a_source_that_fails_leaves_the_rollups_as_they_were(db, tmp_path):
    day = datetime(2023, 6, 1, tzinfo=UTC)
    ingested(tmp_path, "first", records(MUID, IMPORT, day, 96))
    before = list(HourRollup.objects.values_list()), list(DayRollup.objects.values_list())
    broken = records(MUID, IMPORT, day + timedelta(days=1), 96, scale=5)
    broken[40]["timestamp"] = "not a time"

    report = ingest_location(write(tmp_path, "broken", broken), strict=True)

    assert not report.ok
    assert (list(HourRollup.objects.values_list()), list(DayRollup.objects.values_list())) == (
        before
    )


def test_rebuild_builds_the_rollups_of_readings_stored_before_them_and_resumes(db):
    channel = ChannelFactory()
    Reading.objects.bulk_create(
        Reading(channel=channel, timestamp=YEAR + i * INTERVAL, value=value(i))
        for i in range(10 * 96)
    )
    other = ChannelFactory()
    Reading.objects.bulk_create(
        Reading(channel=other, timestamp=YEAR + i * INTERVAL, value=Decimal("0.5"))
        for i in range(96)
    )
    RollupStatus.objects.update(complete=False)
    tz = ZoneInfo("Europe/Zurich")
    query = {
        "start": datetime(2023, 1, 1, tzinfo=tz),
        "end": datetime(2023, 1, 12, tzinfo=tz),
        "interval": Interval.DAY,
        "agg": Agg.SUM,
        "tz": tz,
    }
    expected = buckets(**query)

    steps = rollups.rebuild(chunk=1)
    next(steps)  # interrupted after the first channel of the hours
    assert not RollupStatus.objects.get(grain="hour").complete
    call_command("rebuild_rollups", "--chunk", "1", stdout=(out := io.StringIO()))

    assert "rollups complete" in out.getvalue()
    assert rollups.state().grains == {"hour", "day"}
    assert tables_read(**query) == {"days"}
    assert buckets(**query) == expected
    assert DayRollup.objects.filter(channel=other).get(day="2023-01-01").value_sum == Decimal(
        "0.5"
    ) * (96 - 4)


def test_a_change_of_zone_rebuilds_the_days_and_until_then_they_are_not_read(year, settings):
    settings.TIME_ZONE = "America/New_York"
    tz = ZoneInfo("America/New_York")
    query = {"interval": Interval.MONTH, "agg": Agg.SUM, "tz": tz}

    assert rollups.state().grains == {"hour"}
    assert tables_read(**query) == {"hours"}
    call_command("rebuild_rollups", stdout=io.StringIO())
    # The first evening in New York, before its first whole day, from the hours.
    assert tables_read(**query) == {"days", "hours"}
    assert buckets(**query) == from_readings(**query)


def test_the_ingest_sums_the_days_of_a_zone_off_the_hour_from_the_readings(db, tmp_path, settings):
    # Kathmandu is 5:45 ahead: its days do not begin on UTC hours, so they cannot be summed
    # from the hour rollups as Zurich's are.
    settings.TIME_ZONE = "Asia/Kathmandu"
    call_command("rebuild_rollups", stdout=io.StringIO())
    ingested(tmp_path, "import", records(MUID, IMPORT, YEAR, 20 * 96, gaps=True))
    ingested(tmp_path, "export", records(OTHER, EXPORT, YEAR + timedelta(hours=3), 5 * 96))
    query = {"interval": Interval.DAY, "agg": Agg.SUM, "tz": ZoneInfo("Asia/Kathmandu")}

    assert tables_read(**query) == {"days", "readings"}
    assert buckets(**query) == from_readings(**query)
    # The export's first local day: 03:00 to 18:00 UTC, its end at 18:15 UTC (00:00 there).
    assert DayRollup.objects.get(day=date(2023, 1, 1)).reading_count == 61


def test_rebuild_with_nothing_to_do_says_so(db):
    call_command("rebuild_rollups", stdout=(out := io.StringIO()))

    assert out.getvalue().strip() == "rollups complete (nothing to rebuild)"


@pytest.fixture
def pruned_january(db, tmp_path):
    """January to March 2023 of one unit, then its readings before February pruned; returns
    the day and month buckets as they were before the prune."""
    ingested(tmp_path, "quarter", records(MUID, IMPORT, YEAR, 90 * 96))
    zurich, new_york = ZoneInfo("Europe/Zurich"), ZoneInfo("America/New_York")
    before = {
        "days": buckets(interval=Interval.DAY, agg=Agg.SUM, tz=zurich),
        "months": buckets(interval=Interval.MONTH, agg=Agg.AVG, tz=new_york),
    }
    prune_readings(before=FEBRUARY, now=datetime(2024, 3, 1, tzinfo=UTC))
    assert not Reading.objects.filter(timestamp__lt=FEBRUARY).exists()
    return before


FEBRUARY = datetime(2023, 2, 1, tzinfo=UTC)


def test_after_a_prune_days_and_months_come_from_the_rollups_and_say_so(pruned_january):
    days = buckets(interval=Interval.DAY, agg=Agg.SUM, tz=ZoneInfo("Europe/Zurich"))
    months = buckets(interval=Interval.MONTH, agg=Agg.AVG, tz=ZoneInfo("America/New_York"))

    unflagged = [bucket._replace(pruned=False) for bucket in days]
    assert unflagged == pruned_january["days"]
    assert [bucket._replace(pruned=False) for bucket in months] == pruned_january["months"]
    assert {b.start.date().isoformat(): b.pruned for b in days}["2023-01-31"] is True
    # The local 1 February began at 23:00 UTC on 31 January, a pruned hour.
    assert {b.start.date().isoformat(): b.pruned for b in days}["2023-02-01"] is True
    assert {b.start.date().isoformat(): b.pruned for b in days}["2023-02-02"] is False
    assert [b.pruned for b in months][:2] == [True, True]  # New York's January began in 2022


def test_after_a_prune_the_quarter_hours_are_gone_and_no_bucket_pretends(pruned_january):
    quarters = buckets(
        start=datetime(2023, 1, 31, tzinfo=UTC),
        end=datetime(2023, 2, 2, tzinfo=UTC),
        interval=Interval.MINUTES_15,
        agg=Agg.SUM,
        tz=ZoneInfo("UTC"),
    )

    assert quarters[0].start == FEBRUARY
    assert len(quarters) == 96


def test_readings_older_than_the_retention_boundary_are_not_stored_again(pruned_january, tmp_path):
    report = ingest_location(write(tmp_path, "old", records(MUID, IMPORT, YEAR, 40 * 96)))

    assert report.inserted == 0
    assert report.rejected == 31 * 96
    assert "before 2023-02-01T00:00:00Z, where readings were pruned" in report.rejections[-1]
    days = buckets(interval=Interval.DAY, agg=Agg.SUM, tz=ZoneInfo("Europe/Zurich"))
    assert [bucket._replace(pruned=False) for bucket in days] == pruned_january["days"]


@pytest.mark.parametrize(
    ("interval", "agg", "zone"),
    [
        (Interval.DAY, Agg.SUM, "Europe/Zurich"),  # from the day rollups
        (Interval.MONTH, Agg.AVG, "America/New_York"),  # from the hours
    ],
)
def test_a_unit_whose_readings_were_all_pruned_is_still_aggregated_over_an_open_range(
    db, tmp_path, admin_client, interval, agg, zone
):
    # Its span is gone with its readings; the rollups keep what they were.
    ingested(tmp_path, "kept", records(MUID, IMPORT, YEAR, 40 * 96))
    ingested(tmp_path, "gone", records(OTHER, IMPORT, YEAR, 20 * 96))
    query = {"interval": interval, "agg": agg, "tz": ZoneInfo(zone)}
    before = buckets(**query)
    prune_readings(before=FEBRUARY, now=datetime(2024, 3, 1, tzinfo=UTC))

    after = buckets(**query)
    answer = admin_client.get(
        "/api/v1/readings/aggregate/",
        {"muid": OTHER, "interval": interval, "agg": agg, "tz": zone},
    ).json()["buckets"]

    assert [bucket._replace(pruned=False) for bucket in after] == before
    gone = [bucket for bucket in before if bucket.muid == OTHER]
    assert [(b["start"], Decimal(b["value"]), b["count"], b["pruned"]) for b in answer] == [
        (b.start.isoformat(), b.value, b.count, True) for b in gone
    ]


def test_after_a_prune_an_open_range_reaches_the_history_the_rollups_keep_and_no_further(
    pruned_january, admin_client, settings
):
    # 90 days stored, the 31 of January pruned: the hours of all 90 are found, so an open
    # range of hours is refused at a limit that the 59 days of readings kept would pass.
    hours = buckets(interval=Interval.HOUR, agg=Agg.SUM, tz=ZoneInfo("America/New_York"))
    settings.API_MAX_BUCKETS = 80 * 24
    response = admin_client.get(
        "/api/v1/readings/aggregate/", {"muid": MUID, "interval": "hour", "tz": "UTC"}
    )

    assert (hours[0].start, hours[-1].end) == (YEAR, YEAR + timedelta(days=90))
    assert response.status_code == 400
    assert response.json()["errors"]["interval"][0].startswith("[start, end) spans 2160 hour")


def test_a_rebuild_after_a_prune_keeps_the_rollups_of_what_was_pruned(pruned_january):
    call_command("rebuild_rollups", "--restart", stdout=io.StringIO())

    days = buckets(interval=Interval.DAY, agg=Agg.SUM, tz=ZoneInfo("Europe/Zurich"))
    assert [bucket._replace(pruned=False) for bucket in days] == pruned_january["days"]


def test_after_a_prune_a_range_cut_inside_an_hour_begins_on_the_whole_hour(pruned_january):
    zurich = ZoneInfo("Europe/Zurich")
    days = buckets(
        start=datetime(2023, 1, 10, 10, 15, tzinfo=zurich),
        end=datetime(2023, 1, 12, tzinfo=zurich),
        interval=Interval.DAY,
        agg=Agg.COUNT,
        tz=zurich,
    )

    # Only the hour rollups hold 10:00-10:15; the readings of the quarter hour are gone.
    assert [(b.count, b.expected, b.pruned) for b in days] == [(56, 96, True), (96, 96, True)]


def test_whole_days_that_would_name_too_many_periods_leave_it_to_the_hours(year, monkeypatch):
    monkeypatch.setattr(selectors, "MAX_LISTED_PERIODS", 100)
    query = {"interval": Interval.WEEK, "agg": Agg.SUM, "tz": ZoneInfo("America/New_York")}

    assert tables_read(**query) == {"hours"}
    assert buckets(**query) == from_readings(**query)
