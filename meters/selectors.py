"""Read queries over units, channels and readings. Views and reports read through here.

Aggregation groups readings into buckets of the local calendar of an IANA time zone: a day is
the local day (23 or 25 hours across a DST change), a week starts on Monday, a month on the 1st.
The database groups and aggregates; Python only turns each bucket key into its start and end.
"""

import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import EmptyResultSet
from django.db import NotSupportedError, connections
from django.db.models import (
    BigIntegerField,
    Count,
    DateField,
    DecimalField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Cast, ExtractMinute, Mod, Trunc

from meters import partitions, rollups
from meters.models import (
    SUM_MAX_DIGITS,
    VALUE_DECIMAL_PLACES,
    Channel,
    DayRollup,
    HourRollup,
    MuidText,
    Reading,
    Unit,
)
from meters.moments import (
    EARLIEST,
    HOUR,
    LATEST,
    day_ceil,
    day_floor,
    hour_ceil,
    hour_floor,
    local_midnight,
    whole_hour_offsets,
)

# Each reading covers 15 minutes; a complete bucket holds its length / 15 minutes readings.
READING_INTERVAL = timedelta(minutes=15)
# The readings anyone reads: those inside the bounds every parameter is held to. Older code
# stored some outside (years 1 and 9999), where zone arithmetic overflows; they are left out.
IN_BOUNDS = Q(timestamp__gte=EARLIEST, timestamp__lt=LATEST)


def channel_completeness(channel: Channel) -> float:
    """The share of the 15-minute intervals from the channel's first reading to its last that
    hold a reading (0 without readings), from the channel's stored span and count.
    """
    if not channel.first_reading_at or not channel.last_reading_at:
        return 0.0
    expected = (channel.last_reading_at - channel.first_reading_at) // READING_INTERVAL + 1
    return channel.reading_count / expected


def readings_span() -> tuple[datetime | None, datetime | None]:
    """The first and last reading of all channels, from the channels' stored spans (no query
    over readings unless a span reaches outside IN_BOUNDS, see reading_span)."""
    span = Channel.objects.aggregate(first=Min("first_reading_at"), last=Max("last_reading_at"))
    return _span_in_bounds(span["first"], span["last"], channels=Channel.objects.all())


# Below this many readings (PostgreSQL's estimate) a DISTINCT over the table is cheap.
DISTINCT_BELOW = 100_000


def reading_qualities() -> list[str]:
    """The qualities that stored readings have, sorted.

    A DISTINCT over a table of tens of millions of readings would read all of it (no index
    leads with quality): past DISTINCT_BELOW readings on PostgreSQL the planner's statistics
    answer instead, the column's most common values as of the last ANALYZE, which hold every
    quality of more than a sliver of the readings.
    """
    if connections["default"].vendor == "postgresql":
        with connections["default"].cursor() as cursor:
            if partitions.estimated_readings(cursor) >= DISTINCT_BELOW:
                # Per monthly partition (meters/partitions.py): those are what is analysed.
                tables = partitions.leaf_tables(cursor)
                cursor.execute(
                    "SELECT most_common_vals::text::text[] FROM pg_stats "
                    "WHERE schemaname = current_schema() AND tablename = ANY(%s) "
                    "AND attname = %s",
                    [tables, "quality"],
                )
                found = {value for (values,) in cursor.fetchall() if values for value in values}
                if found:
                    return sorted(found)
    return list(Reading.objects.order_by("quality").values_list("quality", flat=True).distinct())


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
    if _reads_every_unit(user):
        return Unit.objects.all()
    if not _is_reader(user):
        return Unit.objects.none()
    direct = Unit.users.through.objects.filter(user_id=user.pk).values("unit_id")
    through_groups = Unit.groups.through.objects.filter(group__user=user.pk).values("unit_id")
    return Unit.objects.filter(Q(pk__in=direct) | Q(pk__in=through_groups))


def visible_units_with_channels(
    *, user: AbstractBaseUser | AnonymousUser | None = None
) -> QuerySet[Unit]:
    """The units `user` may read, each with its channels prefetched (two queries)."""
    return _with_channels(visible_units(user=user))


def visible_readings(*, user: AbstractBaseUser | AnonymousUser | None = None) -> QuerySet[Reading]:
    """The readings of the units `user` may read, inside IN_BOUNDS, unordered and unfiltered
    otherwise."""
    if _reads_every_unit(user):
        # Not "unit IN (every unit)": PostgreSQL would plan and run that semi-join, 15-25%
        # of the SQL time of a page of readings (docs/BENCHMARKS.md).
        return Reading.objects.filter(IN_BOUNDS)
    return Reading.objects.filter(IN_BOUNDS, channel__unit__in=visible_units(user=user))


def _is_reader(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """An active, logged-in user: anyone else reads nothing."""
    return user is not None and user.is_authenticated and user.is_active


def _reads_every_unit(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    return _is_reader(user) and (user.is_staff or user.is_superuser)


def _with_channels(units: QuerySet[Unit]) -> QuerySet[Unit]:
    return units.prefetch_related(Prefetch("channels", queryset=Channel.objects.order_by("obis")))


def channels_span(
    *,
    units: QuerySet[Unit],
    muids: Sequence[uuid.UUID] = (),
    obis: Sequence[str] = (),
) -> tuple[datetime | None, datetime | None]:
    """[first reading, end of the last reading) over the matching channels; (None, None) if none.

    Read from the spans the ingest keeps on each channel, so the readings are not scanned
    (unless a span reaches outside IN_BOUNDS, see reading_span).
    """
    channels = Channel.objects.filter(unit__in=units)
    if muids:
        channels = channels.filter(unit__muid__in=muids)
    if obis:
        channels = channels.filter(obis__in=obis)
    span = channels.aggregate(first=Min("first_reading_at"), last=Max("last_reading_at"))
    first, last = _span_in_bounds(span["first"], span["last"], channels=channels)
    if first is None or last is None:
        return None, None
    return first, last + READING_INTERVAL


def reading_span(channels: Sequence[Channel]) -> tuple[datetime | None, datetime | None]:
    """The start of the first and of the last reading of `channels` (loaded rows).

    From the spans the ingest keeps on each channel; where one reaches outside IN_BOUNDS
    (readings stored by older code), from the readings inside the bounds instead, in one query.
    """
    firsts = [channel.first_reading_at for channel in channels if channel.first_reading_at]
    lasts = [channel.last_reading_at for channel in channels if channel.last_reading_at]
    return _span_in_bounds(min(firsts, default=None), max(lasts, default=None), channels=channels)


def _span_in_bounds(
    first: datetime | None, last: datetime | None, *, channels: QuerySet[Channel] | Sequence
) -> tuple[datetime | None, datetime | None]:
    if first is None or last is None:
        return None, None
    if first >= EARLIEST and last < LATEST:
        return first, last
    span = (
        Reading.objects.filter(IN_BOUNDS, channel__in=channels)
        .order_by()
        .aggregate(first=Min("timestamp"), last=Max("timestamp"))
    )
    return span["first"], span["last"]


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


class Bucket(NamedTuple):  # a tuple: an hourly month builds 720, five times faster
    """One interval of one channel: `value` aggregates its `count` readings."""

    muid: str  # canonical text, as written out (see MuidText)
    obis: str
    start: datetime
    end: datetime
    value: Decimal | int
    count: int
    expected: int
    # The bucket's 15-minute readings were (in part) deleted by retention: what it holds
    # comes from the rollups, which kept them.
    pruned: bool = False


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


def _next_bucket_day(day: date, *, interval: Interval) -> date:
    """The local date the calendar bucket after the one starting on `day` starts on."""
    if interval is Interval.DAY:
        return day + timedelta(days=1)
    if interval is Interval.WEEK:
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def bucket_bounds(
    *, interval: Interval, tz: ZoneInfo
) -> Callable[[date | int], tuple[datetime, datetime, int]]:
    """A function from a bucket key to the bucket's (start, end, expected readings), in `tz`.

    Keys are what the aggregation query groups by: the local date a calendar bucket starts on,
    or the epoch second a 15-minute or hourly bucket starts at. Zone arithmetic is the costly
    part of a bucket, so each key's bounds and each local midnight or instant are computed once
    per function, however many channels share them; a bucket's end is the next one's start.
    `expected` is what a complete bucket holds: 92 on a 23-hour day, 100 on a 25-hour one.
    """
    if interval.minutes:
        step = interval.minutes * 60
        expected = timedelta(minutes=interval.minutes) // READING_INTERVAL

        @cache
        def instant(epoch: int) -> datetime:
            return datetime.fromtimestamp(epoch, tz)

        def minute_bounds(key: int) -> tuple[datetime, datetime, int]:
            return instant(key), instant(key + step), expected

        return minute_bounds

    @cache
    def midnight(day: date) -> datetime:
        return local_midnight(day, tz)

    @cache
    def calendar_bounds(key: date) -> tuple[datetime, datetime, int]:
        start, end = midnight(key), midnight(_next_bucket_day(key, interval=interval))
        # The length in UTC: aware datetimes in one zone subtract as wall-clock times.
        return start, end, (end.astimezone(UTC) - start.astimezone(UTC)) // READING_INTERVAL

    return calendar_bounds


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


def _bucket_key(interval: Interval, tz: ZoneInfo, moment: str = "timestamp"):
    """The SQL expression the rows of one bucket share, from their instant `moment`.

    Days, weeks and months: the local date in `tz` the bucket starts on (the instant truncated
    in `tz`).
    15 minutes and hours: the epoch of the bucket's start, the instant less the minutes past
    the local quarter or hour. An instant, not a local time, so that the hour repeated when
    DST ends stays two buckets, and zones offset by half an hour get their own hours.
    """
    if not interval.minutes:
        return Trunc(moment, interval.value, output_field=DateField(), tzinfo=tz)
    # As an integer: PostgreSQL's EXTRACT gives a numeric, slower to group and to convert.
    minute = Cast(ExtractMinute(moment, tzinfo=tz), IntegerField())
    minutes_in = ExpressionWrapper(Mod(minute, interval.minutes), output_field=IntegerField())
    whole_minute = Epoch(moment) / 60 * 60
    return ExpressionWrapper(whole_minute - minutes_in * 60, output_field=BigIntegerField())


def readings_with_channel(readings: QuerySet[Reading]) -> QuerySet[Reading]:
    """`readings` with `muid` (as text, see MuidText) and `obis`, as they are written out."""
    return readings.annotate(muid=MuidText("channel__unit__muid"), obis=F("channel__obis"))


def visible_channels(
    *,
    user: AbstractBaseUser | AnonymousUser | None = None,
    muids: Sequence[uuid.UUID] = (),
    obis: Sequence[str] = (),
) -> QuerySet[Channel] | None:
    """The channels of the units `user` may read, of these muids and OBIS codes (all if none);
    None when that is every channel (a staff user, no filter), which a query need not name."""
    if _reads_every_unit(user) and not muids and not obis:
        return None
    if not _is_reader(user):
        return Channel.objects.none()
    channels = Channel.objects.filter(unit__in=visible_units(user=user))
    if muids:
        channels = channels.filter(unit__muid__in=muids)
    if obis:
        channels = channels.filter(obis__in=obis)
    return channels


def readings_aggregate(
    *,
    channels: QuerySet[Channel] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    qualities: Sequence[str] = (),
    interval: Interval,
    agg: Agg,
    tz: ZoneInfo,
    state: rollups.State | None = None,
) -> Iterator[Bucket]:
    """The buckets of the readings of `channels` (None: every channel) in [start, end), of
    these qualities (all if none), per channel, ordered by muid, OBIS code and start.
    `state` is the rollups' (read here unless the caller has read it to bound the range).

    One GROUP BY query, streamed; buckets without readings are absent. `expected` is what a
    complete bucket holds, so a bucket cut by the range or by missing data shows count < expected.
    Where rollups give the same answer they are read instead of the readings (see _parts).
    """
    if channels is not None and channels.query.is_empty():
        return  # e.g. no unit visible: nothing to ask the database
    state = state or rollups.state()
    parts = _parts(
        channels=channels,
        start=start,
        end=end,
        qualities=qualities,
        interval=interval,
        tz=tz,
        state=state,
    )
    bounds = bucket_bounds(interval=interval, tz=tz)
    pruned = state.raw_since
    for _, key, value, count, muid, obis in _buckets(parts, interval=interval, agg=agg, tz=tz):
        start, end, expected = bounds(key)
        yield Bucket(
            muid=muid,
            obis=obis,
            start=start,
            end=end,
            value=value,
            count=count,
            expected=expected,
            pruned=pruned is not None and start < pruned,
        )


# --- Where the buckets are read from --------------------------------------------------------


class Piece(NamedTuple):
    """A stretch [low, high) of a range and what answers it exactly."""

    source: str  # DAYS, HOURS or READINGS
    low: datetime
    high: datetime


DAYS, HOURS, READINGS = "days", "hours", "readings"
ONE_DAY = timedelta(days=1)


def rollup_cover(
    low: datetime, high: datetime, *, interval: Interval, tz: ZoneInfo, days: bool, hours: bool
) -> list[Piece]:
    """[low, high) cut into the stretches each source answers exactly, in order, adjacent
    stretches of one source joined.

    With `days`, the days of the day rollups' zone that lie wholly inside one bucket of
    `interval` in `tz` (every day in that zone; most days of a month or week elsewhere); with
    `hours` (tz's buckets begin on UTC hours), the whole UTC hours of the rest; the readings
    for what remains.
    """
    pieces: list[Piece] = []

    def add(source: str, a: datetime, b: datetime) -> None:
        if a >= b:
            return
        if pieces and pieces[-1].source == source and pieces[-1].high == a:
            pieces[-1] = pieces[-1]._replace(high=b)
        else:
            pieces.append(Piece(source, a, b))

    def without_days(a: datetime, b: datetime) -> None:
        first, last = hour_ceil(a), hour_floor(b)
        if hours and first < last:
            add(READINGS, a, first)
            add(HOURS, first, last)
            add(READINGS, last, b)
        else:
            add(READINGS, a, b)

    zone = ZoneInfo(rollups.day_zone())
    # Between two bucket starts of tz, the days of the zone from the first midnight after the
    # one to the last midnight before the other lie wholly inside one bucket. In the zone
    # itself no bucket starts inside a day: every day between low and high is whole.
    if not days:
        boundaries = []
    elif str(tz) == str(zone):
        boundaries = [high]
    else:
        boundaries = [*_bucket_starts(low, high, interval=interval, tz=tz), high]
    done = after = low
    for boundary in boundaries:
        first, last = day_ceil(after, tz=zone), day_floor(boundary, tz=zone)
        if first < last:
            without_days(done, first)
            add(DAYS, first, last)
            done = last
        after = boundary
    without_days(done, high)
    return pieces


def _bucket_starts(
    low: datetime, high: datetime, *, interval: Interval, tz: ZoneInfo
) -> Iterator[datetime]:
    """The starts of the calendar buckets of `interval` in `tz` in (low, high), in order."""
    day = bucket_start(low, interval=interval, tz=tz).date()
    while (start := local_midnight(day := _next_bucket_day(day, interval=interval), tz)) < high:
        yield start


def _parts(
    *,
    channels: QuerySet[Channel] | None,
    start: datetime | None,
    end: datetime | None,
    qualities: Sequence[str],
    interval: Interval,
    tz: ZoneInfo,
    state: rollups.State,
) -> list[tuple[QuerySet, str]]:
    """What [start, end) is read from: (rows, the column of each row's instant or day) per
    source, as rollup_cover cuts it.

    The rollups hold every quality, so a filter by quality reads the readings; so does 15min.
    Hours serve where every offset of tz over the span is a whole hour. Before the readings
    were pruned only the rollups hold them: there whole hours are read (whole days where hours
    do not serve), the one around `start` included.
    """
    readings = Reading.objects.filter(IN_BOUNDS)
    if channels is not None:
        readings = readings.filter(channel__in=channels)
    if qualities:
        readings = readings.filter(quality__in=qualities)
    only_readings = [(readings.filter(_between("timestamp", start, end)), "timestamp")]
    if qualities or interval is Interval.MINUTES_15:
        return only_readings
    low, high = start, end
    if low is None or high is None:
        first, last = aggregate_span(channels, state=state)
        low, high = low or first, high or last
    if low is None or high is None:
        return only_readings
    low, high = max(low, EARLIEST), min(high, LATEST)
    if low >= high:
        return only_readings
    zone = ZoneInfo(rollups.day_zone())
    hours = rollups.HOUR.period in state.grains and whole_hour_offsets(tz, low, high)
    # Elsewhere than in the day zone, what the whole days leave of a bucket is read from the
    # hours: from the readings it would be a scan of every reading for a few days' worth.
    days = (
        rollups.DAY.period in state.grains
        and not interval.minutes
        and (hours or str(tz) == str(zone))
    )
    pruned = state.raw_since
    if pruned and low < pruned:
        low = hour_floor(low) if hours else day_floor(low, tz=zone)
    if pruned and high <= pruned:
        high = hour_ceil(high) if hours else day_ceil(high, tz=zone)
    pieces = rollup_cover(low, high, interval=interval, tz=tz, days=days, hours=hours)
    if _listed(pieces) > MAX_LISTED_PERIODS:
        pieces = rollup_cover(low, high, interval=interval, tz=tz, days=False, hours=hours)
    parts = []
    for source, model, column in (
        (DAYS, DayRollup, "day"),
        (HOURS, HourRollup, "hour"),
        (READINGS, Reading, "timestamp"),
    ):
        stretches = [piece for piece in pieces if piece.source == source]
        if not stretches:
            continue
        if source == READINGS:
            # The ends of the range as asked: open where it was.
            where = Q()
            for _, a, b in stretches:
                where |= _between("timestamp", start if a == low else a, end if b == high else b)
            parts.append((readings.filter(where), column))
            continue
        rows = model.objects.all()
        if channels is not None:
            rows = rows.filter(channel__in=channels)
        if len(stretches) == 1:
            _, a, b = stretches[0]
            if source == DAYS:
                a, b = a.astimezone(zone).date(), b.astimezone(zone).date()
            rows = rows.filter(_between(column, a, b))
        else:
            # Named one by one: the database looks each up in a hash, where ranges would be
            # compared one after another for every row it scans.
            rows = rows.filter(**{f"{column}__in": _periods(stretches, zone=zone)})
        parts.append((rows, column))
    return parts


# Rollup periods one query names at most (SQLite takes 32,766 parameters): past that, the
# whole days of another zone are not read (a week in New York over decades).
MAX_LISTED_PERIODS = 10_000


def _listed(pieces: Sequence[Piece]) -> int:
    """How many periods reading `pieces` names: those of a source read in several stretches."""
    listed = 0
    for source, length in ((DAYS, ONE_DAY), (HOURS, HOUR)):
        stretches = [piece for piece in pieces if piece.source == source]
        if len(stretches) > 1:
            listed += sum((b - a) // length + 1 for _, a, b in stretches)
    return listed


def _periods(stretches: Sequence[Piece], *, zone: ZoneInfo) -> list[date] | list[datetime]:
    """The days (in `zone`) or UTC hours that begin in `stretches` of one source."""
    if stretches[0].source == DAYS:
        days = []
        for _, a, b in stretches:
            day, last = a.astimezone(zone).date(), b.astimezone(zone).date()
            while day < last:
                days.append(day)
                day += ONE_DAY
        return days
    hours = []
    for _, a, b in stretches:
        while a < b:
            hours.append(a)
            a += HOUR
    return hours


def _between(column: str, low, high) -> Q:
    """`column` in [low, high); None leaves that end open."""
    where = Q()
    if low is not None:
        where &= Q(**{f"{column}__gte": low})
    if high is not None:
        where &= Q(**{f"{column}__lt": high})
    return where


def aggregate_span(
    channels: QuerySet[Channel] | None, *, state: rollups.State
) -> tuple[datetime | None, datetime | None]:
    """[first reading, end of the last) that an aggregate of `channels` (None: all) can find:
    the spans kept of their readings and, where readings were pruned, of the hour rollups that
    keep them (two probes of the primary key per channel)."""
    first, end = _channels_span(channels)
    if state.raw_since is None:
        return first, end
    hours = HourRollup.objects.filter(channel_id=OuterRef("pk")).values("hour")
    kept = (
        (Channel.objects.all() if channels is None else channels)
        .annotate(
            first_hour=Subquery(hours.order_by("hour")[:1]),
            last_hour=Subquery(hours.order_by("-hour")[:1]),
        )
        .aggregate(first=Min("first_hour"), last=Max("last_hour"))
    )
    if kept["first"] is None:
        return first, end
    kept_end = kept["last"] + HOUR
    return min(first or kept["first"], kept["first"]), max(end or kept_end, kept_end)


def _channels_span(channels: QuerySet[Channel] | None) -> tuple[datetime | None, datetime | None]:
    """[first reading, end of the last) of `channels` (None: all), from their stored spans."""
    if channels is None:
        first, last = readings_span()
    else:
        span = channels.aggregate(first=Min("first_reading_at"), last=Max("last_reading_at"))
        first, last = _span_in_bounds(span["first"], span["last"], channels=channels)
    return first, last and last + READING_INTERVAL


# --- The aggregation query ------------------------------------------------------------------


def _day_key(interval: Interval):
    """The bucket key of a day rollup: its day, or the day its week or month starts on."""
    if interval is Interval.DAY:
        return F("day")
    return Cast(Trunc("day", interval.value, output_field=DateField()), DateField())


def _partial(agg: Agg, *, column: str):
    """The aggregate of one part of a bucket, and its reading count, such that the parts of a
    bucket combine (see _buckets): sums and counts add, minima and maxima compare, and an
    average is their sum over their count."""
    total = DecimalField(max_digits=SUM_MAX_DIGITS, decimal_places=VALUE_DECIMAL_PLACES)
    if column == "timestamp":  # readings
        count = Count("*")
        value = {
            Agg.SUM: Sum("value", output_field=total),
            Agg.AVG: Sum("value", output_field=total),
            Agg.MIN: Min("value"),
            Agg.MAX: Max("value"),
            Agg.COUNT: Count("*"),
        }[agg]
    else:  # rollups
        count = Sum("reading_count", output_field=IntegerField())
        value = {
            Agg.SUM: Sum("value_sum", output_field=total),
            Agg.AVG: Sum("value_sum", output_field=total),
            Agg.MIN: Min("value_min"),
            Agg.MAX: Max("value_max"),
            Agg.COUNT: Sum("reading_count", output_field=IntegerField()),
        }[agg]
    return value, count


def _buckets(
    parts: list[tuple[QuerySet, str]], *, interval: Interval, agg: Agg, tz: ZoneInfo
) -> Iterator:
    """Rows (channel id, bucket key, value, count, muid as text, OBIS code), ordered by muid,
    OBIS code and key, streamed through a server-side cursor.

    Each part groups its rows by channel id and bucket key; several parts are put together and
    grouped again, then the muid and OBIS code are joined to the buckets. Grouped by muid and
    OBIS code directly, PostgreSQL expects as many buckets as readings and sorts every
    reading; grouped this way it hashes them and sorts only the buckets (a year of one channel:
    35,040 readings, 365 days, about a fifth less time).

    Django has no subquery in FROM, so the outer query is written here around the compiled
    parts; on SQLite every value passes through the converters a plain ORM query would apply
    (on PostgreSQL none is needed, below).
    """
    compiled = []
    for rows, column in parts:
        value, count = _partial(agg, column=column)
        key = _day_key(interval) if column == "day" else _bucket_key(interval, tz, column)
        per_channel = (
            rows.values("channel_id")
            .annotate(key=key)
            .values("channel_id", "key")
            .annotate(agg_value=value, reading_count=count)
            .order_by()
        )
        compiled.append(per_channel.query.get_compiler(using=per_channel.db))
    connection = connections[parts[0][0].db]
    sql_parts, params, asked = [], [], []
    for compiler in compiled:
        try:
            part_sql, part_params = compiler.as_sql()
        except EmptyResultSet:  # e.g. no unit visible: nothing to ask the database
            continue
        sql_parts.append(part_sql)
        params.extend(part_params)
        asked.append(compiler)
    if not asked:
        return
    compiler = asked[0]
    quote = connection.ops.quote_name
    buckets, channels, units = quote("per_channel"), quote("channel"), quote("unit")
    channel_id, key, value, count = (
        f"{buckets}.{quote(alias)}" for _, _, alias in compiler.select[:4]
    )
    # One part already holds one row per bucket: grouped again, it would only be hashed twice.
    regroup = len(sql_parts) > 1

    def combined(aggregate: str, column: str) -> str:
        return f"{aggregate}({column})" if regroup else column

    # The sum rounded to the stored scale: exact, and on SQLite the same float whichever parts
    # it was added from, so that an average rounds the same way from rollups and readings.
    total = f"ROUND({combined('SUM', value)}, {VALUE_DECIMAL_PLACES})"
    count_total = f"CAST({combined('SUM', count)} AS bigint)"
    outer_value = {
        Agg.SUM: total,
        Agg.AVG: f"ROUND({total} / {count_total}, {VALUE_DECIMAL_PLACES})",
        Agg.MIN: combined("MIN", value),
        Agg.MAX: combined("MAX", value),
        Agg.COUNT: f"CAST({combined('SUM', value)} AS bigint)",
    }[agg]
    grouped = (
        f"SELECT {channel_id}, {key}, {outer_value}, {count_total} "
        f"FROM ({' UNION ALL '.join(sql_parts)}) {buckets}"
        + (f" GROUP BY {channel_id}, {key}" if regroup else "")
    )
    muid = Unit._meta.get_field("muid").get_col("unit")
    muid_text, obis = MuidText(muid), Channel._meta.get_field("obis").get_col("channel")
    muid_sql, muid_text_sql, obis_sql, channel_pk, channel_unit, unit_pk = (
        compiler.compile(column)[0]
        for column in (
            muid,
            muid_text,
            obis,
            Channel._meta.pk.get_col("channel"),
            Channel._meta.get_field("unit").get_col("channel"),
            Unit._meta.pk.get_col("unit"),
        )
    )
    sql = (
        f"SELECT {buckets}.*, {muid_text_sql}, {obis_sql} FROM ({grouped}) {buckets}"
        f" INNER JOIN {quote(Channel._meta.db_table)} {channels} ON {channel_pk} = {channel_id}"
        f" INNER JOIN {quote(Unit._meta.db_table)} {units} ON {unit_pk} = {channel_unit}"
        f" ORDER BY {muid_sql}, {obis_sql}, {key}"
    )
    # Each converter here coerces a bucket key, an aggregate or a count to int, date or
    # Decimal (for backends that return floats or text), and psycopg2 already returns bigint,
    # date and numeric columns as those: three calls a row for nothing, a tenth of an hourly
    # month's Python time. tests/meters/test_selectors.py holds the rows to those of the ORM's
    # own path.
    converters = {}
    if connection.vendor != "postgresql":
        expressions = [expression for expression, _, _ in compiler.select]
        converters = compiler.get_converters([*expressions, muid_text, obis])
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(2000):
            yield from compiler.apply_converters(rows, converters) if converters else rows
