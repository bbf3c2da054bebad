"""Monthly partitions of the readings on PostgreSQL, and the retention of raw readings.

On PostgreSQL `meters_reading` is partitioned by RANGE (timestamp), one partition per UTC month
(`meters_reading_2023_01` holds [2023-01-01, 2023-02-01) UTC), plus a DEFAULT partition that
takes any reading whose month has no partition yet. So no write ever fails for want of a
partition (the ingest, the ORM, a bulk load alike); `create_partitions` then moves what the
DEFAULT partition holds into partitions of its own months, and creates the coming months ahead,
so that the DEFAULT partition stays empty and every month can later be dropped whole.

New partitions are created as plain tables and then attached: ATTACH PARTITION locks the
partitioned table in SHARE UPDATE EXCLUSIVE mode, which readers and the ingest's writes do not
wait for (CREATE TABLE .. PARTITION OF would lock it exclusively). It does lock the DEFAULT
partition exclusively while it checks that none of its rows belong in the new one.

Retention (`prune_readings`) removes the raw readings before a boundary, the start of a UTC
month: on PostgreSQL by dropping the partitions that end at or before it, on SQLite (not
partitioned) by deleting rows in chunks. Each channel's span and count are corrected, and the
boundary is recorded (RetentionBoundary) for the API to say "raw readings gone"
(raw_readings_since). Only the readings table is touched: rollups and every other table stay.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, F, Max, OuterRef, Subquery, Value, When
from django.db.models.functions import Greatest

from meters.models import Channel, Reading, RetentionBoundary
from meters.moments import EARLIEST, LATEST

READINGS = Reading._meta.db_table
DEFAULT_PARTITION = f"{READINGS}_default"
COLUMNS = "channel_id, timestamp, value, quality, measurement"
# Months created ahead of the current one by default.
MONTHS_AHEAD = 3
# How long partition maintenance waits for a lock before it gives up (to run again later)
# instead of queueing every reader of the readings behind its request.
LOCK_TIMEOUT = "10s"
# Rows deleted per statement and transaction on SQLite.
DELETE_CHUNK = 10_000
# Channels whose span one UPDATE corrects.
SPANS_PER_UPDATE = 500
# The tables holding the readings (PostgreSQL; parameters: the table's name, twice): its
# partitions, or the table itself when it is not partitioned.
LEAVES = (
    "SELECT relid AS oid FROM pg_partition_tree(%s::regclass) WHERE isleaf "
    "UNION ALL SELECT oid FROM pg_class WHERE oid = %s::regclass AND relkind = 'r'"
)
# pg_get_expr of a range partition's bound: FOR VALUES FROM ('...') TO ('...').
BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    # [start, end) in UTC; both None for the DEFAULT partition (and bounds of another shape,
    # such as MINVALUE, which no maintenance step here creates or drops).
    start: datetime | None
    end: datetime | None


@dataclass
class PartitionChanges:
    created: list[str] = field(default_factory=list)
    # Readings moved out of the DEFAULT partition, per partition created for them.
    moved: dict[str, int] = field(default_factory=dict)


@dataclass
class Pruned:
    before: datetime
    # Dropped partitions (PostgreSQL) and the readings each held.
    partitions: dict[str, int] = field(default_factory=dict)
    readings: int = 0
    channels: int = 0


def is_partitioned() -> bool:
    """Whether the readings table is partitioned (PostgreSQL after migration 0005)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [READINGS])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def leaf_tables(cursor) -> list[str]:
    """The tables that hold the readings on PostgreSQL: the partitions, or the table itself
    when not partitioned. Their statistics (autovacuum analyses them, never the partitioned
    table) describe the readings."""
    cursor.execute(f"SELECT oid::regclass::text FROM ({LEAVES}) l", [READINGS, READINGS])
    return [name for (name,) in cursor.fetchall()]


def estimated_readings(cursor) -> int:
    """PostgreSQL's estimate of the readings (as of each table's last ANALYZE); 0 if none
    was ever analysed."""
    cursor.execute(
        "SELECT COALESCE(SUM(GREATEST(reltuples, 0)), 0)::bigint FROM pg_class "
        f"WHERE oid IN ({LEAVES})",
        [READINGS, READINGS],
    )
    return cursor.fetchone()[0]


def month_start(moment: datetime) -> datetime:
    """The start of the UTC month of `moment`."""
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(month: datetime) -> datetime:
    return (month + timedelta(days=32)).replace(day=1)


def partition_name(month: datetime) -> str:
    return f"{READINGS}_{month.year:04d}_{month.month:02d}"


def partitions() -> list[Partition]:
    """The partitions of the readings table, from the catalog (never by name), by start."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [READINGS],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = BOUND.search(bound)
        if match:
            start, end = (datetime.fromisoformat(text) for text in match.groups())
            found.append(Partition(name, start.astimezone(UTC), end.astimezone(UTC)))
        else:
            found.append(Partition(name, None, None))
    return sorted(found, key=lambda p: (p.start is not None, p.start or EARLIEST))


def create_month_partitions(cursor, months: list[datetime]) -> list[str]:
    """Create and attach the partitions of `months` (starts of UTC months); returns their names.

    Each is created as a table of its own, then attached (see the module docstring); attaching
    builds its primary key index.
    """
    for month in months:
        cursor.execute(f"CREATE TABLE {partition_name(month)} (LIKE {READINGS})")
    _attach(cursor, months)
    return [partition_name(month) for month in months]


def _attach(cursor, months: list[datetime]) -> None:
    for month in months:
        cursor.execute(
            f"ALTER TABLE {READINGS} ATTACH PARTITION {partition_name(month)} "
            "FOR VALUES FROM (%s) TO (%s)",
            [month, next_month(month)],
        )


def create_partitions(
    *, months_ahead: int = MONTHS_AHEAD, now: datetime, since: datetime | None = None
) -> PartitionChanges:
    """Give the months held in the DEFAULT partition partitions of their own (moving their
    readings there), and create the partitions of the current UTC month and `months_ahead`
    after it that do not exist (from the month of `since` on, when given: before a load of
    history). One transaction; safe to run at any time, and again."""
    changes = PartitionChanges()
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_for_maintenance(cursor)
        _split_default(cursor, changes)
        covered = [(p.start, p.end) for p in partitions() if p.start is not None]
        month, last = month_start(min(since or now, now)), month_start(now)
        for _ in range(months_ahead):
            last = next_month(last)
        wanted = []
        while month <= last:
            if not any(start <= month < end for start, end in covered):
                wanted.append(month)
            month = next_month(month)
        changes.created += create_month_partitions(cursor, wanted)
    return changes


def _lock_for_maintenance(cursor) -> None:
    """Locks taken first, in the order every maintenance step needs them: the partitioned
    table (SHARE UPDATE EXCLUSIVE, which also keeps two maintenance runs apart), then the
    DEFAULT partition (exclusively: no write may land in it while its rows move)."""
    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    cursor.execute(f"LOCK TABLE ONLY {READINGS} IN SHARE UPDATE EXCLUSIVE MODE")
    cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE")


def _split_default(cursor, changes: PartitionChanges) -> None:
    """Move the readings of the DEFAULT partition into partitions of their months, created for
    them. Readings outside [EARLIEST, LATEST) (stored by older code) stay where they are."""
    in_bounds = "timestamp >= %s AND timestamp < %s"
    cursor.execute(
        f"SELECT DISTINCT date_trunc('month', timestamp, 'UTC') FROM {DEFAULT_PARTITION} "
        f"WHERE {in_bounds}",
        [EARLIEST, LATEST],
    )
    months = sorted(month.astimezone(UTC) for (month,) in cursor.fetchall())
    if not months:
        return
    for month in months:
        name = partition_name(month)
        cursor.execute(f"CREATE TABLE {name} (LIKE {READINGS})")
        cursor.execute(
            f"INSERT INTO {name} ({COLUMNS}) SELECT {COLUMNS} FROM {DEFAULT_PARTITION} "
            f"WHERE {in_bounds}",
            [month, next_month(month)],
        )
        changes.moved[name] = cursor.rowcount
    cursor.execute(f"DELETE FROM {DEFAULT_PARTITION} WHERE {in_bounds}", [EARLIEST, LATEST])
    _attach(cursor, months)
    changes.created += [partition_name(month) for month in months]


def retention_boundary(*, older_than: timedelta, now: datetime) -> datetime:
    """The boundary of a prune of readings older than `older_than`: the start of the UTC month
    of `now - older_than`. Whole months go, on both databases: a partition is dropped only
    when all of it is older than the cutoff."""
    return month_start(now - older_than)


def prune_readings(*, before: datetime, now: datetime, dry_run: bool = False) -> Pruned:
    """Remove the raw readings before `before` (a month start, see retention_boundary), correct
    the spans and counts of the channels that had some, and record the boundary. Dry run:
    only say what would go."""
    if is_partitioned():
        return _prune_partitions(before=before, now=now, dry_run=dry_run)
    return _prune_rows(before=before, now=now, dry_run=dry_run)


def _prune_partitions(*, before: datetime, now: datetime, dry_run: bool) -> Pruned:
    pruned = Pruned(before)
    if not dry_run:
        # Readings of old months still in the DEFAULT partition get their partitions first,
        # so that they go with them.
        create_partitions(months_ahead=0, now=now)
    removed: dict[int, int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        old = [p for p in partitions() if p.end is not None and p.end <= before]
        for partition in old:
            # SHARE: no write may change what is counted before the partition is dropped.
            cursor.execute(f"LOCK TABLE {partition.name} IN SHARE MODE")
            pruned.partitions[partition.name] = _count_by_channel(
                cursor, partition.name, "true", [], removed
            )
        if dry_run:
            # What a real run would first move out of the DEFAULT partition, then drop.
            pruned.partitions[DEFAULT_PARTITION] = _count_by_channel(
                cursor,
                DEFAULT_PARTITION,
                "timestamp >= %s AND timestamp < %s",
                [EARLIEST, before],
                removed,
            )
        else:
            for partition in old:
                cursor.execute(f"DROP TABLE {partition.name}")
            _refresh_spans(removed, now=now)
            _record(before, now=now)
    pruned.readings = sum(pruned.partitions.values())
    pruned.channels = len(removed)
    return pruned


def _count_by_channel(cursor, table: str, where: str, params: list, into: dict[int, int]) -> int:
    """Count the readings of `table` matching `where` per channel, adding them `into`;
    returns their total."""
    cursor.execute(f"SELECT channel_id, COUNT(*) FROM {table} WHERE {where} GROUP BY 1", params)
    total = 0
    for channel_id, n in cursor.fetchall():
        into[channel_id] = into.get(channel_id, 0) + n
        total += n
    return total


def _prune_rows(*, before: datetime, now: datetime, dry_run: bool) -> Pruned:
    """Unpartitioned (SQLite): delete channel by channel in chunks, each chunk its own short
    transaction with the channel's corrected span, so the database is never locked long."""
    pruned = Pruned(before)
    old = Reading.objects.filter(timestamp__lt=before)
    if dry_run:
        pruned.readings = old.count()
        pruned.channels = old.values("channel_id").distinct().count()
        return pruned
    channel_ids = list(old.order_by().values_list("channel_id", flat=True).distinct())
    table, adapt = READINGS, connection.ops.adapt_datetimefield_value
    for channel_id in channel_ids:
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
                    "WHERE channel_id = %s AND timestamp < %s LIMIT %s)",
                    [channel_id, adapt(before), DELETE_CHUNK],
                )
                deleted = cursor.rowcount
                _refresh_spans({channel_id: deleted}, now=now)
            pruned.readings += deleted
            if deleted < DELETE_CHUNK:
                break
    pruned.channels = len(channel_ids)
    _record(before, now=now)
    return pruned


def _refresh_spans(removed: dict[int, int], *, now: datetime) -> None:
    """Take the removed readings off each channel's count, read its span back from the
    readings that remain (two probes of the primary key per channel), and move
    data_changed_at (the analysis cache's key). One UPDATE per 500 channels."""
    ids = sorted(channel_id for channel_id, n in removed.items() if n)
    for start in range(0, len(ids), SPANS_PER_UPDATE):
        chunk = ids[start : start + SPANS_PER_UPDATE]
        own = Reading.objects.filter(channel_id=OuterRef("pk")).values("timestamp")
        taken = [When(pk=channel_id, then=Value(removed[channel_id])) for channel_id in chunk]
        count = BigIntegerField()
        Channel.objects.filter(pk__in=chunk).update(
            # Never below zero, should a count have been wrong before.
            reading_count=Greatest(F("reading_count") - Case(*taken, output_field=count), 0),
            first_reading_at=Subquery(own.order_by("timestamp")[:1]),
            last_reading_at=Subquery(own.order_by("-timestamp")[:1]),
            data_changed_at=now,
        )


def _record(before: datetime, *, now: datetime) -> None:
    RetentionBoundary.objects.create(raw_since=before, pruned_at=now)


def raw_readings_since() -> datetime | None:
    """The instant before which raw readings were pruned (the rollups still hold those
    hours and days); None if readings were never pruned."""
    return RetentionBoundary.objects.aggregate(since=Max("raw_since"))["since"]
