from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from meters.moments import format_utc, parse_moment, parse_zone

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
