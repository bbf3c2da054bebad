"""Rollups: the readings of each channel summed per UTC hour and per local day.

The aggregates read them instead of the readings where they give the same answer (see
meters/selectors.py). They are kept in step by the one write path, in the transaction that
writes the readings (`add` for inserted readings, `recompute` for updated ones), and built for
readings stored before them by `rebuild_rollups`. Days are those of the zone RollupStatus
names, DJANGO_TIME_ZONE when they were built.

Sums are rounded to the stored scale in SQL: exact on PostgreSQL, and on SQLite (which adds in
floating point) the rounding removes the noise, as energy_sum does.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Subquery

from meters.models import (
    VALUE_DECIMAL_PLACES,
    Channel,
    DayRollup,
    HourRollup,
    Reading,
    RetentionBoundary,
    RollupStatus,
    Unit,
    temporary_table,
)
from meters.moments import EARLIEST, LATEST, day_ceil, hour_ceil, whole_hour_offsets
from meters.moments import HOUR as HOUR_LENGTH
from meters.partitions import raw_readings_since

READINGS = Reading._meta.db_table
COLUMNS = "channel_id, {period}, value_sum, reading_count, value_min, value_max"
# A local day lies within 25 hours of any instant in it.
DAY_REACH_HOURS = 25
# The hour sums of the readings one `add` adds, from which it sums their days too.
ADDED_HOURS = "rollup_added_hours"


@dataclass(frozen=True)
class Grain:
    model: type[HourRollup] | type[DayRollup]
    period: str  # the column of the period's start

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def first_after(self, moment: datetime) -> tuple[datetime | date, datetime]:
        """The first period that begins at or after `moment`: its key and its start."""
        if self.model is HourRollup:
            start = hour_ceil(moment)
            return start, start
        start = day_ceil(moment, tz=ZoneInfo(day_zone()))
        return start.date(), start

    def of(self, timestamp: str) -> tuple[str, list]:
        """SQL for the period that holds the instant in column `timestamp`, with its params."""
        if self.model is HourRollup:
            sql, params = connection.ops.datetime_trunc_sql("hour", timestamp, (), "UTC")
        else:
            sql, params = connection.ops.datetime_cast_date_sql(timestamp, (), day_zone())
        return sql, list(params)


HOUR = Grain(HourRollup, "hour")
DAY = Grain(DayRollup, "day")
GRAINS = (HOUR, DAY)


def day_zone() -> str:
    return settings.TIME_ZONE


def _round(sql: str) -> str:
    return f"ROUND({sql}, {VALUE_DECIMAL_PLACES})"


def _kept(table: str, column: str, better: str) -> str:
    """The stored or the incoming `column`, whichever is `better` ("<" for min, ">" for max)."""
    new, old = f"excluded.{column}", f"{table}.{column}"
    return f"CASE WHEN {new} {better} {old} THEN {new} ELSE {old} END"


def _shifted(timestamp: str, hours: int) -> str:
    if connection.vendor == "postgresql":
        return f"({timestamp} + interval '{hours} hours')"
    return f"datetime({timestamp}, '{hours:+d} hours')"


def add(cursor, inserted: str) -> None:
    """Add readings just inserted to the rollups of their periods.

    `inserted` is a query of (channel_id, timestamp, value) rows, none of them stored before
    this transaction: a period's sum and count grow by theirs, its min and max widen. They are
    summed per hour once; the days are summed from those hours when each hour lies in one local
    day (the day zone's offsets are whole hours over their span), else from the readings again.
    """
    columns = COLUMNS.format(period=HOUR.period)
    cursor.execute(f"DROP TABLE IF EXISTS {temporary_table(ADDED_HOURS)}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {ADDED_HOURS} AS SELECT {columns} FROM {HOUR.table} WHERE 1 = 0"
    )
    sums, params = _sums(HOUR, inserted)
    cursor.execute(f"INSERT INTO {ADDED_HOURS} ({columns}) {sums}", params)
    _merge(cursor, HOUR, f"SELECT {columns} FROM {ADDED_HOURS}", [])
    cursor.execute(f"SELECT MIN(hour), MAX(hour) FROM {ADDED_HOURS}")
    low, high = (_utc(moment) for moment in cursor.fetchone())
    if low is not None and whole_hour_offsets(ZoneInfo(day_zone()), low, high + HOUR_LENGTH):
        key, params = DAY.of("h.hour")
        _merge(
            cursor,
            DAY,
            f"SELECT h.channel_id, {key}, {_round('SUM(h.value_sum)')}, SUM(h.reading_count), "
            f"MIN(h.value_min), MAX(h.value_max) FROM {ADDED_HOURS} h GROUP BY 1, 2",
            params,
        )
    elif low is not None:
        _merge(cursor, DAY, *_sums(DAY, inserted))
    cursor.execute(f"DROP TABLE {temporary_table(ADDED_HOURS)}")


def _sums(grain: Grain, readings: str) -> tuple[str, list]:
    """SQL for the rollups of `grain` of a query of (channel_id, timestamp, value) rows."""
    key, params = grain.of("n.timestamp")
    return (
        f"SELECT n.channel_id, {key}, {_round('SUM(n.value)')}, COUNT(*), MIN(n.value), "
        f"MAX(n.value) FROM ({readings}) n GROUP BY 1, 2",
        params,
    )


def _merge(cursor, grain: Grain, rollups: str, params: list) -> None:
    """Add the rollups of the query `rollups` (COLUMNS' order) to the stored ones of `grain`."""
    t, period = grain.table, grain.period
    # "WHERE true": SQLite's parser needs it before ON CONFLICT in INSERT .. SELECT.
    cursor.execute(
        f"INSERT INTO {t} ({COLUMNS.format(period=period)}) SELECT * FROM ({rollups}) r "
        f"WHERE true ON CONFLICT (channel_id, {period}) DO UPDATE SET "
        f"value_sum = {_round(f'{t}.value_sum + excluded.value_sum')}, "
        f"reading_count = {t}.reading_count + excluded.reading_count, "
        f"value_min = {_kept(t, 'value_min', '<')}, "
        f"value_max = {_kept(t, 'value_max', '>')}",
        params,
    )


def _utc(moment: datetime | str | None) -> datetime | None:
    """A moment as the database returns it (SQLite: naive UTC text) as an aware datetime."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


def recompute(cursor, touched: str) -> None:
    """Compute again, from the stored readings, the rollups of the periods that hold the
    (channel_id, timestamp) rows of `touched`: readings updated in place, whose old values
    are no longer known."""
    for grain in GRAINS:
        t, period = grain.table, grain.period
        key, params = grain.of("c.timestamp")
        stored_key, stored_params = grain.of("r.timestamp")
        low, high = _shifted("p.low", -DAY_REACH_HOURS), _shifted("p.high", DAY_REACH_HOURS)
        cursor.execute(
            f"INSERT INTO {t} ({COLUMNS.format(period=period)}) "
            f"SELECT r.channel_id, p.period, {_round('SUM(r.value)')}, COUNT(*), "
            "MIN(r.value), MAX(r.value) FROM ("
            f"  SELECT c.channel_id, {key} AS period, MIN(c.timestamp) AS low, "
            f"  MAX(c.timestamp) AS high FROM ({touched}) c GROUP BY 1, 2"
            f") p JOIN {READINGS} r ON r.channel_id = p.channel_id "
            f"AND r.timestamp > {low} AND r.timestamp < {high} AND {stored_key} = p.period "
            "GROUP BY r.channel_id, p.period "
            f"ON CONFLICT (channel_id, {period}) DO UPDATE SET value_sum = excluded.value_sum, "
            "reading_count = excluded.reading_count, value_min = excluded.value_min, "
            "value_max = excluded.value_max",
            [*params, *stored_params],
        )


# --- Status and rebuild -------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """What the aggregates may read: the grains whose rollups cover every reading (days only
    in the zone they were built in), and the instant before which the raw readings were
    pruned (None: never), before which only the rollups hold them."""

    grains: frozenset[str]
    raw_since: datetime | None


def state() -> State:
    """The rollups' State, in one query."""
    latest = RetentionBoundary.objects.order_by("-raw_since").values("raw_since")[:1]
    rows = RollupStatus.objects.annotate(raw_since=Subquery(latest)).values_list(
        "grain", "zone", "complete", "raw_since"
    )
    grains, raw_since = set(), None
    for grain, zone, complete, pruned in rows:
        raw_since = pruned
        if complete and (grain == HOUR.period or zone == day_zone()):
            grains.add(grain)
    return State(frozenset(grains), raw_since)


@dataclass(frozen=True)
class RebuildStep:
    grain: str
    channels: int
    through: int


def rebuild(*, chunk: int, restart: bool = False) -> Iterator[RebuildStep]:
    """Build the rollups of every grain not complete, `chunk` channels per transaction;
    resumes after the last channel done unless `restart`. Yields each step done.

    A change of DJANGO_TIME_ZONE makes the day rollups incomplete: they are built again in the
    new zone. Each chunk locks its units as the ingest does, so that an ingest running at the
    same time is not undone by a rollup computed from readings it has since changed.
    """
    for grain in GRAINS:
        status, _ = RollupStatus.objects.get_or_create(grain=grain.period)
        zone = day_zone() if grain is DAY else ""
        if status.zone != zone or restart:
            status.zone, status.complete, status.rebuilt_through = zone, False, 0
            status.save()
        rebuilt = False
        while not status.complete:
            ids = list(
                Channel.objects.filter(pk__gt=status.rebuilt_through)
                .order_by("pk")
                .values_list("pk", flat=True)[:chunk]
            )
            with transaction.atomic():
                if ids:
                    refresh(ids, grains=[grain])
                    status.rebuilt_through = ids[-1]
                    rebuilt = True
                status.complete = len(ids) < chunk
                status.save()
            yield RebuildStep(grain.period, len(ids), status.rebuilt_through)
        if rebuilt:
            # Fresh statistics, or the planner goes on planning for the table as it was.
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {grain.table}")


def refresh(channel_ids: Sequence[int], *, grains: Sequence[Grain] = GRAINS) -> None:
    """Compute the rollups of these channels again from their stored readings (those inside
    the bounds the aggregates read), in the current transaction, their units locked.

    Periods that began before the retention boundary are kept as they are: their readings
    are (in part) pruned, and the rollups are all that is left of them. Rows are written in
    the order the aggregates read them, each channel's periods together on few pages.
    """
    units = Channel.objects.filter(pk__in=channel_ids).values("unit_id")
    list(Unit.objects.select_for_update().filter(pk__in=units).order_by("muid").values("pk"))
    marks = ", ".join(["%s"] * len(channel_ids))
    pruned = raw_readings_since()
    for grain in grains:
        rollups = grain.model.objects.filter(channel_id__in=channel_ids)
        low = EARLIEST
        if pruned is not None:
            period, low = grain.first_after(pruned)
            rollups = rollups.filter(**{f"{grain.period}__gte": period})
        rollups.delete()
        key, params = grain.of("r.timestamp")
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {grain.table} ({COLUMNS.format(period=grain.period)}) "
                f"SELECT r.channel_id, {key}, {_round('SUM(r.value)')}, COUNT(*), "
                f"MIN(r.value), MAX(r.value) FROM {READINGS} r WHERE r.channel_id IN ({marks}) "
                "AND r.timestamp >= %s AND r.timestamp < %s GROUP BY 1, 2 ORDER BY 1, 2",
                [*params, *channel_ids, *_bounds(low)],
            )


def _bounds(low: datetime) -> list:
    return [connection.ops.adapt_datetimefield_value(moment) for moment in (low, LATEST)]
