from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from meters.moments import format_utc, local_text, parse_moment, parse_zone

ZURICH = ZoneInfo("Europe/Zurich")


def test_a_plain_date_is_local_midnight():
    moment = parse_moment("2023-02-01", ZURICH)

    assert moment == datetime(2023, 1, 31, 23, tzinfo=UTC)


def test_an_offset_is_kept():
    moment = parse_moment("2023-02-01T06:00:00+01:00", ZURICH)

    assert moment.utcoffset() == timedelta(hours=1)
    assert moment == datetime(2023, 2, 1, 5, tzinfo=UTC)


def test_z_means_utc():
    assert parse_moment("2023-02-01T00:00:00Z", ZURICH) == datetime(2023, 2, 1, tzinfo=UTC)


def test_a_date_time_without_offset_is_refused():
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_moment("2023-02-01T00:00:00", ZURICH)


@pytest.mark.parametrize("bad", ["", "yesterday", "2023-13-01", "2023-02-30", "01.02.2023"])
def test_what_is_not_iso_8601_is_refused(bad):
    with pytest.raises(ValueError, match="not an ISO 8601"):
        parse_moment(bad, ZURICH)


def test_format_utc_writes_z():
    moment = datetime(2023, 2, 1, 1, tzinfo=ZURICH)

    assert format_utc(moment) == "2023-02-01T00:00:00Z"


def test_a_zone_is_found_by_its_iana_name():
    assert parse_zone("Europe/Zurich") == ZURICH


@pytest.mark.parametrize("bad", ["", "CET ", "Mars/Olympus", "../etc/passwd", "europe/zurich"])
def test_what_is_no_iana_zone_name_is_refused(bad):
    with pytest.raises(ValueError, match="is not an IANA time zone name"):
        parse_zone(bad)


def test_local_text_shows_the_moment_in_the_current_zone():
    with timezone.override(ZURICH):
        assert local_text(datetime(2023, 2, 1, 5, tzinfo=UTC)) == "2023-02-01 06:00"


@pytest.mark.parametrize(
    ("moment", "zone", "shown"),
    [
        (datetime(9999, 12, 31, 23, 45, tzinfo=UTC), "Europe/Zurich", "9999-12-31 23:45 UTC"),
        (datetime(1, 1, 1, tzinfo=UTC), "America/New_York", "0001-01-01 00:00 UTC"),
    ],
    ids=["past year 9999 in Zurich", "before year 1 in New York"],
)
def test_local_text_falls_back_to_utc_where_the_zone_runs_off_the_calendar(moment, zone, shown):
    with timezone.override(ZoneInfo(zone)):
        assert local_text(moment) == shown
