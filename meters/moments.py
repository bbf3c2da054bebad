"""Points in time: parsing what users type (ISO 8601 with an offset, or a plain date), and
showing them."""

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.utils import dateformat, timezone

# The instants the service deals in: parameters must lie in [EARLIEST, LATEST), and the ingest
# stores only readings there. The far ends of Python's calendar (years 1 and 9999) overflow
# when converted between zones, so readings stored outside by older code are left out of what
# the pages and the API read (meters.selectors.IN_BOUNDS), and shown in UTC (local_text).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def parse_moment(text: str, tz: tzinfo) -> datetime:
    """An aware datetime from `2023-02-01T00:00:00+01:00`, `...Z`, or `2023-02-01`.

    A plain date is midnight at the start of that day in `tz`. A date-time without an offset
    is refused (ValueError), since it would silently mean a different instant in each zone.
    """
    text = text.strip()
    try:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=tz)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (add Z or +01:00, or give a plain date)")
    return moment


def format_utc(moment: datetime) -> str:
    """`2023-02-01T00:00:00Z`: an instant in UTC, as the feed writes it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def parse_zone(name: str) -> ZoneInfo:
    """The IANA zone of that name; ValueError for anything else (paths, abbreviations)."""
    if name not in _zone_names():
        raise ValueError(f"{name[:60]!r} is not an IANA time zone name such as Europe/Zurich.")
    return ZoneInfo(name)


def local_text(moment: datetime | None, fmt: str = "Y-m-d H:i") -> str:
    """`moment` in the current zone, in Django's date format `fmt`; in UTC, marked so, where
    that zone's calendar would run past year 1 or 9999 (which Django's own conversion, in
    templates and the admin, cannot represent)."""
    if moment is None:
        return ""
    try:
        return dateformat.format(timezone.localtime(moment), fmt)
    except OverflowError:
        return f"{dateformat.format(moment.astimezone(UTC), fmt)} UTC"


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz`.

    Where a DST change skips local midnight, zoneinfo places 00:00 at the instant of the change,
    which is where that day begins.
    """
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC).astimezone(tz)


HOUR = timedelta(hours=1)


def hour_floor(moment: datetime) -> datetime:
    """The start of the UTC hour that holds `moment`."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_ceil(moment: datetime) -> datetime:
    """The first UTC hour boundary at or after `moment`."""
    floor = hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def day_floor(moment: datetime, *, tz: ZoneInfo) -> datetime:
    """The start of the local day of `tz` that holds `moment`."""
    return local_midnight(moment.astimezone(tz).date(), tz)


def day_ceil(moment: datetime, *, tz: ZoneInfo) -> datetime:
    """The first local midnight of `tz` at or after `moment`."""
    floor = day_floor(moment, tz=tz)
    return floor if floor == moment else local_midnight(floor.date() + timedelta(days=1), tz)


def whole_hour_offsets(tz: ZoneInfo, low: datetime, high: datetime) -> bool:
    """Whether every offset of `tz` from UTC in [low, high) is a whole number of hours, so that
    its hours and days begin on UTC hours (Asia/Kathmandu's do not, nor Europe/Zurich's
    before 1894)."""
    return all(
        _whole_hour_year(str(tz), year)
        for year in range(low.astimezone(UTC).year, high.astimezone(UTC).year + 1)
    )


@cache
def _whole_hour_year(zone: str, year: int) -> bool:
    """Whether the offsets of `zone` in the UTC year are whole hours: sampled each day at 0:00
    UTC, and each hour between two days whose offsets differ (a change of offset)."""
    tz = ZoneInfo(zone)
    day, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    offset = day.astimezone(tz).utcoffset()
    while day < end:
        following = (day + timedelta(days=1)).astimezone(tz).utcoffset()
        moments = [day] if following == offset else [day + h * HOUR for h in range(24)]
        if any(moment.astimezone(tz).utcoffset() % HOUR for moment in moments):
            return False
        day, offset = day + timedelta(days=1), following
    return True
