"""Read queries over units, channels and readings. Views and reports read through here.

Aggregation groups readings into buckets of the local calendar of an IANA time zone: a day is
the local day (23 or 25 hours across a DST change), a week starts on Monday, a month on the 1st.
The database groups and aggregates; Python only turns each bucket key into its start and end.
"""

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import NotSupportedError
from django.db.models import (
    Avg,
    BigIntegerField,
    Count,
    DateTimeField,
    DecimalField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Max,
    Min,
    Prefetch,
    Q,
    QuerySet,
)
from django.db.models.functions import ExtractMinute, Mod, Round, Trunc

from meters.models import (
    SUM_MAX_DIGITS,
    VALUE_DECIMAL_PLACES,
    Channel,
    Reading,
    Unit,
    energy_sum,
)

# Each reading covers 15 minutes; a complete bucket holds its length / 15 minutes readings.
READING_INTERVAL = timedelta(minutes=15)


def units_with_channels() -> QuerySet[Unit]:
    """All units, each with its channels prefetched (two queries whatever the count).

    For trusted callers only (commands); what a user sees comes from visible_units.
    """
    return _with_channels(Unit.objects.all())


def channel_readings(
    *, channel: Channel, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[Reading]:
    """The readings of one channel in [start, end), oldest first (served by its index)."""
    readings = Reading.objects.filter(channel=channel)
    if start is not None:
        readings = readings.filter(timestamp__gte=start)
    if end is not None:
        readings = readings.filter(timestamp__lt=end)
    return readings.order_by("timestamp")


# --- What a caller may see ----------------------------------------------------------------


def visible_units(*, user: AbstractBaseUser | AnonymousUser | None = None) -> QuerySet[Unit]:
    """The units `user` may read: those granted to them or to one of their groups; staff: all.

    No user, an anonymous or an inactive one reads nothing. The API, the analysis pages and
    the home page read units and readings only through here, so a unit one may not read looks
    exactly like one that does not exist. Subqueries rather than joins: no duplicate rows, no
    DISTINCT, and the result can itself be used as a subquery.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return Unit.objects.none()
    if user.is_staff or user.is_superuser:
        return Unit.objects.all()
    direct = Unit.users.through.objects.filter(user_id=user.pk).values("unit_id")
    through_groups = Unit.groups.through.objects.filter(group__user=user.pk).values("unit_id")
    return Unit.objects.filter(Q(pk__in=direct) | Q(pk__in=through_groups))


def visible_units_with_channels(
    *, user: AbstractBaseUser | AnonymousUser | None = None
) -> QuerySet[Unit]:
    """The units `user` may read, each with its channels prefetched (two queries)."""
    return _with_channels(visible_units(user=user))


def visible_readings(*, user: AbstractBaseUser | AnonymousUser | None = None) -> QuerySet[Reading]:
    """The readings of the units `user` may read, unordered and unfiltered otherwise."""
    return Reading.objects.filter(channel__unit__in=visible_units(user=user))


def _with_channels(units: QuerySet[Unit]) -> QuerySet[Unit]:
    return units.prefetch_related(Prefetch("channels", queryset=Channel.objects.order_by("obis")))


def channels_span(
    *,
    units: QuerySet[Unit],
    muids: Sequence[uuid.UUID] = (),
    obis: Sequence[str] = (),
) -> tuple[datetime | None, datetime | None]:
    """[first reading, end of the last reading) over the matching channels; (None, None) if none.

    Read from the spans the ingest keeps on each channel, so the readings are not scanned.
    """
    channels = Channel.objects.filter(unit__in=units)
    if muids:
        channels = channels.filter(unit__muid__in=muids)
    if obis:
        channels = channels.filter(obis__in=obis)
    span = channels.aggregate(first=Min("first_reading_at"), last=Max("last_reading_at"))
    if span["first"] is None or span["last"] is None:
        return None, None
    return span["first"], span["last"] + READING_INTERVAL


# --- Buckets of the local calendar --------------------------------------------------------


class Interval(StrEnum):
    MINUTES_15 = "15min"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @property
    def minutes(self) -> int | None:
        """The length in minutes of an interval shorter than a day; None for calendar ones."""
        return {Interval.MINUTES_15: 15, Interval.HOUR: 60}.get(self)


class Agg(StrEnum):
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class Bucket:
    """One interval of one channel: `value` aggregates its `count` readings."""

    muid: uuid.UUID
    obis: str
    start: datetime
    end: datetime
    value: Decimal | int
    count: int
    expected: int


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz`.

    Where a DST change skips local midnight, zoneinfo places 00:00 at the instant of the change,
    which is where that day begins.
    """
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC).astimezone(tz)


def bucket_start(moment: datetime, *, interval: Interval, tz: ZoneInfo) -> datetime:
    """The start, in `tz`, of the bucket that holds `moment`."""
    local = moment.astimezone(tz)
    if interval.minutes:
        into = timedelta(
            minutes=local.minute % interval.minutes,
            seconds=local.second,
            microseconds=local.microsecond,
        )
        return (moment.astimezone(UTC) - into).astimezone(tz)
    day = local.date()
    if interval is Interval.WEEK:
        day -= timedelta(days=day.weekday())
    elif interval is Interval.MONTH:
        day = day.replace(day=1)
    return local_midnight(day, tz)


def bucket_end(start: datetime, *, interval: Interval, tz: ZoneInfo) -> datetime:
    """The end (exclusive), in `tz`, of the bucket that starts at `start`."""
    if interval.minutes:
        return (start.astimezone(UTC) + timedelta(minutes=interval.minutes)).astimezone(tz)
    day = start.astimezone(tz).date()
    if interval is Interval.DAY:
        day += timedelta(days=1)
    elif interval is Interval.WEEK:
        day += timedelta(days=7)
    else:
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return local_midnight(day, tz)


def expected_readings(start: datetime, end: datetime) -> int:
    """Readings a complete bucket [start, end) holds: 92 on a 23-hour day, 100 on a 25-hour one."""
    # Aware datetimes in one zone subtract as wall-clock times; the length is measured in UTC.
    return (end.astimezone(UTC) - start.astimezone(UTC)) // READING_INTERVAL


def bucket_count(start: datetime, end: datetime, *, interval: Interval, tz: ZoneInfo) -> int:
    """How many buckets of `interval` the range [start, end) touches."""
    if end <= start:
        return 0
    first = bucket_start(start, interval=interval, tz=tz)
    if interval.minutes:
        step = timedelta(minutes=interval.minutes)
        return -((first.astimezone(UTC) - end.astimezone(UTC)) // step)  # ceiling division
    last = bucket_start(end - timedelta(microseconds=1), interval=interval, tz=tz).date()
    first_day = first.date()
    if interval is Interval.MONTH:
        return (last.year - first_day.year) * 12 + last.month - first_day.month + 1
    days = 7 if interval is Interval.WEEK else 1
    return (last - first_day).days // days + 1


class Epoch(Func):
    """Whole seconds since 1970-01-01T00:00Z of a datetime column."""

    output_field = BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError("Epoch is written for PostgreSQL and SQLite.")

    def as_postgresql(self, compiler, connection, **extra_context):
        template = "CAST(FLOOR(EXTRACT(EPOCH FROM %(expressions)s)) AS bigint)"
        return super().as_sql(compiler, connection, template=template, **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        # '%%%%s' survives the template and the driver's parameter formatting as '%s'.
        template = "CAST(strftime('%%%%s', %(expressions)s) AS integer)"
        return super().as_sql(compiler, connection, template=template, **extra_context)


def _bucket_key(interval: Interval, tz: ZoneInfo):
    """The SQL expression readings of one bucket share.

    Days, weeks and months: the timestamp truncated in `tz` (a local date at midnight).
    15 minutes and hours: the epoch of the bucket's start, the timestamp less the minutes past
    the local quarter or hour. An instant, not a local time, so that the hour repeated when
    DST ends stays two buckets, and zones offset by half an hour get their own hours.
    """
    if not interval.minutes:
        return Trunc("timestamp", interval.value, output_field=DateTimeField(), tzinfo=tz)
    minutes_in = ExpressionWrapper(
        Mod(ExtractMinute("timestamp", tzinfo=tz), interval.minutes), output_field=IntegerField()
    )
    whole_minute = Epoch("timestamp") / 60 * 60
    return ExpressionWrapper(whole_minute - minutes_in * 60, output_field=BigIntegerField())


def _aggregate(agg: Agg):
    if agg is Agg.COUNT:
        return Count("id")
    if agg is Agg.SUM:
        return energy_sum("value")
    function = {Agg.AVG: Avg, Agg.MIN: Min, Agg.MAX: Max}[agg]
    # SQLite computes on REAL: round back to the stored scale in SQL, as energy_sum does.
    output = DecimalField(max_digits=SUM_MAX_DIGITS, decimal_places=VALUE_DECIMAL_PLACES)
    return Round(function("value"), VALUE_DECIMAL_PLACES, output_field=output)


def readings_aggregate(
    *, readings: QuerySet[Reading], interval: Interval, agg: Agg, tz: ZoneInfo
) -> Iterator[Bucket]:
    """The buckets of `readings` per channel, ordered by muid, OBIS code and start.

    One GROUP BY query, streamed; buckets without readings are absent. `expected` is what a
    complete bucket holds, so a bucket cut by the range or by missing data shows count < expected.
    """
    rows = (
        readings.values(muid=F("channel__unit__muid"), obis=F("channel__obis"))
        .annotate(key=_bucket_key(interval, tz))
        .values("muid", "obis", "key")
        .annotate(agg_value=_aggregate(agg), reading_count=Count("id"))
        .order_by("muid", "obis", "key")
    )
    for row in rows.iterator(chunk_size=2000):
        key = row["key"]
        if interval.minutes:
            start = datetime.fromtimestamp(int(key), UTC).astimezone(tz)
        else:
            start = local_midnight(key.astimezone(tz).date(), tz)
        end = bucket_end(start, interval=interval, tz=tz)
        yield Bucket(
            muid=row["muid"],
            obis=row["obis"],
            start=start,
            end=end,
            value=row["agg_value"],
            count=row["reading_count"],
            expected=expected_readings(start, end),
        )
