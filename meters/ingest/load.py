"""Load readings: stage them in a temporary table, then write many sources at once.

The one write path, the same on PostgreSQL and SQLite:
1. `stage`: segments of readings, encoded by the threads that read them (`encode`), go into a
   temporary table (PostgreSQL's COPY, batched inserts on SQLite), each row tagged with its
   source, response and record;
2. `flush`, for a batch of complete sources, in one transaction: lock their units (creating
   those and the channels that are new), drop the duplicates inside each source (the first
   record wins), insert the rows of each channel that holds nothing in its staged span as they
   are (nothing can conflict), set aside the other rows that are new or differ from the
   stored readings (one join with the stored readings of those channels' staged spans) and
   write those with one INSERT .. ON CONFLICT DO UPDATE, bring the rollups of the periods
   touched up to date (meters/rollups.py), then move each channel's span and count.
A source stays all or nothing: its rows are written by one flush or none. Each step after the
staging is one SQL statement over the staged rows, whatever their number, and what is staged
lives in the database, not in memory.
"""

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from meters import rollups
from meters.ingest.read import SHOWN_REJECTIONS, Segment
from meters.models import Channel, Reading, Unit, temporary_table
from meters.partitions import raw_readings_since

STAGED = "ingest_staged"
CHANNELS = "ingest_channels"
CHANGES = "ingest_changes"
READINGS = Reading._meta.db_table
CHANNEL_TABLE = Channel._meta.db_table
# Per channel written: the readings inserted, and their span.
NEW_PER_CHANNEL = (
    "SELECT channel_id, SUM(CASE WHEN is_new THEN 1 ELSE 0 END) AS inserted, "
    "MIN(CASE WHEN is_new THEN timestamp END) AS first, "
    "MAX(CASE WHEN is_new THEN timestamp END) AS last "
    f"FROM {CHANGES} GROUP BY channel_id "
    f"UNION ALL SELECT channel_id, staged, first, last FROM {CHANNELS} WHERE fresh"
)
COLUMNS = "channel_id, timestamp, value, quality, measurement"
# The readings a flush inserts: the rows of fresh channels, and those new to the others.
INSERTED = (
    f"SELECT c.channel_id, s.timestamp, s.value FROM {STAGED} s JOIN {CHANNELS} c "
    "ON c.source = s.source AND c.channel_key = s.channel_key WHERE c.fresh "
    f"UNION ALL SELECT channel_id, timestamp, value FROM {CHANGES} WHERE is_new"
)
# The stored readings in the staged spans of the channels that are not fresh: what their
# staged rows are compared with (never the whole table, whatever the plan).
STORED_IN_SPANS = (
    f"SELECT r.channel_id, r.timestamp, r.value, r.quality, r.measurement FROM {CHANNELS} c "
    f"JOIN {READINGS} r ON r.channel_id = c.channel_id AND r.timestamp >= c.first "
    "AND r.timestamp <= c.last WHERE NOT c.fresh"
)
# A stored reading {t} differs from its incoming version {e}.
CHANGED = (
    "{t}.value <> {e}.value OR {t}.quality <> {e}.quality OR {t}.measurement <> {e}.measurement"
)
# How an ingest's connection shows in PostgreSQL's pg_stat_activity.
APPLICATION_NAME = "exnaton-ingest"
# Rows per multi-row INSERT: within SQLite's limit of 32,766 parameters.
ROWS_PER_INSERT = 1_000
# Memory PostgreSQL may use per sort or hash while the staged rows are merged (this
# connection only): with room they hash instead of sorting on disk.
STAGING_WORK_MEM = "64MB"
# Bytes handed to COPY per read of the staged text: psycopg2 takes the GIL back for each read,
# which the fetchers' parsing holds most of the time (its default reads 8 KiB).
COPY_PIECE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Duplicate:
    record: int
    first_record: int


@dataclass
class LoadCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    first_duplicates: list[Duplicate] = field(default_factory=list)
    # Readings older than the retention boundary: not stored (their rollups were kept).
    pruned: int = 0
    pruned_before: datetime | None = None
    units: list[str] = field(default_factory=list)
    obis_codes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Rows:
    """A segment's readings encoded for the staging table (Loader.encode): COPY's text on
    PostgreSQL, row tuples on SQLite."""

    source: int
    count: int
    data: str | list[tuple]


@dataclass
class _Staged:
    """What is staged of one source that is not written yet. `rows` belongs to the writing
    thread; the channels and runs to the thread that reads the source, until it is read."""

    rows: int = 0
    channels: dict[tuple[uuid.UUID, str], int] = field(default_factory=dict)  # -> channel key
    # Per channel key: [last timestamp, +1/-1 once they run up/down (0: not yet), first and
    # last timestamp of the span (it holds every reading staged), readings].
    runs: dict[int, list] = field(default_factory=dict)
    # False while every channel's timestamps ran strictly one way: then nothing repeats.
    may_repeat: bool = False
    # False once part of the staged rows was discarded: `runs` then overstates them.
    runs_exact: bool = True


class Loader:
    """The staging tables of one ingest run, on the current thread's database connection."""

    def __init__(self) -> None:
        self._postgres = connection.vendor == "postgresql"
        self._sources: dict[int, _Staged] = {}
        # The connection's own adapter, called on the fetcher threads (it does not connect).
        self._adapt = connection.ops.adapt_datetimefield_value
        timestamp = Reading._meta.get_field("timestamp").db_type(connection)
        value = Reading._meta.get_field("value").db_type(connection)
        labels = "quality varchar(32) NOT NULL, measurement varchar(32) NOT NULL"
        self._tables = {
            STAGED: "source integer NOT NULL, response integer NOT NULL, record bigint NOT NULL, "
            f"channel_key integer NOT NULL, timestamp {timestamp} NOT NULL, "
            f"value {value} NOT NULL, {labels}",
            # `fresh`: the channel holds no reading in the staged span (see flush).
            CHANNELS: "source integer NOT NULL, channel_key integer NOT NULL, "
            f"channel_id bigint NOT NULL, fresh boolean NOT NULL, staged bigint NOT NULL, "
            f"first {timestamp} NOT NULL, last {timestamp} NOT NULL",
            CHANGES: f"source integer NOT NULL, channel_id bigint NOT NULL, "
            f"timestamp {timestamp} NOT NULL, value {value} NOT NULL, {labels}, "
            "is_new boolean NOT NULL",
        }
        with connection.cursor() as cursor:
            for table, columns in self._tables.items():
                cursor.execute(f"DROP TABLE IF EXISTS {temporary_table(table)}")
                cursor.execute(f"CREATE TEMPORARY TABLE {table} ({columns})")
            if self._postgres:
                cursor.execute(f"SET work_mem = '{STAGING_WORK_MEM}'")
                cursor.execute(f"SET application_name = '{APPLICATION_NAME}'")

    def close(self) -> None:
        with connection.cursor() as cursor:
            for table in self._tables:
                cursor.execute(f"DROP TABLE IF EXISTS {temporary_table(table)}")
            if self._postgres:
                cursor.execute("RESET work_mem; RESET application_name")

    def units(self, source: int) -> set[uuid.UUID]:
        """The units of the readings staged for `source`."""
        staged = self._sources.get(source)
        return {muid for muid, _ in staged.channels} if staged else set()

    def staged_rows(self, source: int) -> int:
        return self._sources[source].rows if source in self._sources else 0

    def encode(self, segment: Segment) -> "Rows":
        """The segment's readings as the staging table takes them, its channels and their runs
        noted. Called on the thread that reads the segment's source, off the writing thread:
        until the source is read to the end, only that thread touches its channels and runs."""
        keys = self._keys(segment)
        if self._postgres:
            return Rows(segment.source, len(keys), self._lines(segment, keys))
        return Rows(segment.source, len(keys), self._rows(segment, keys))

    def stage(self, encoded: list["Rows"]) -> None:
        """Add encoded readings to the staging table, in one statement."""
        with connection.cursor() as cursor:
            if self._postgres:
                text = io.StringIO("".join([rows.data for rows in encoded]))
                cursor.copy_expert(f"COPY {STAGED} FROM STDIN", text, COPY_PIECE)
            else:
                cursor.executemany(
                    f"INSERT INTO {STAGED} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [row for rows in encoded for row in rows.data],
                )
        for rows in encoded:
            self._sources[rows.source].rows += rows.count

    def _lines(self, segment: Segment, keys: list[int]) -> str:
        """The segment's rows as the text COPY reads (a reading is a tuple: unpacked, not
        looked up field by field)."""
        head = f"{segment.source}\t{segment.response}\t"
        return "".join(
            [
                f"{head}{record}\t{key}\t{text}\t{value}\t{quality}\t{measurement}\n"
                for key, (record, _, _, _, value, quality, measurement, text) in zip(
                    keys, segment.readings, strict=True
                )
            ]
        )

    def _rows(self, segment: Segment, keys: list[int]) -> list[tuple]:
        source, response, adapt = segment.source, segment.response, self._adapt
        return [
            (source, response, r.record, key, adapt(r.timestamp), r.value, r.quality, r.measurement)
            for key, r in zip(keys, segment.readings, strict=True)
        ]

    def _keys(self, segment: Segment) -> list[int]:
        """The channel key of each reading, noting whether a channel's timestamps stop
        running strictly one way (then the source may repeat one: see flush).

        A document runs channel by channel, so the channel and its run are looked up only when
        the channel changes (muids and OBIS codes are shared objects: an identity test).
        """
        staged = self._sources.setdefault(segment.source, _Staged())
        channels, runs = staged.channels, staged.runs
        keys = []
        muid = obis = run = None
        key = -1
        for _, r_muid, r_obis, moment, _, _, _, _ in segment.readings:
            if r_muid is not muid or r_obis is not obis:
                muid, obis = r_muid, r_obis
                key = channels.setdefault((muid, obis), len(channels))
                run = runs.get(key)
            if run is None:
                run = runs[key] = [moment, 0, moment, moment, 1]
            else:
                previous, direction = run[0], run[1]
                if moment > previous and direction >= 0:
                    run[1] = 1
                    if moment > run[3]:
                        run[3] = moment
                elif moment < previous and direction <= 0:
                    run[1] = -1
                    if moment < run[2]:
                        run[2] = moment
                else:
                    staged.may_repeat = True
                    run[2], run[3] = min(run[2], moment), max(run[3], moment)
                run[0] = moment
                run[4] += 1
            keys.append(key)
        return keys

    def restart(self, source: int) -> None:
        """Note a source's channels anew: called by the thread that reads it when it starts
        again, every reading so far discarded (the writer's `discard(source, None)` follows)."""
        self._sources[source] = _Staged()

    def discard(self, source: int, response: int | None) -> None:
        """Forget the staged readings of one response of a source (None: of all of them)."""
        with connection.cursor() as cursor:
            if response is None:
                cursor.execute(f"DELETE FROM {STAGED} WHERE source = %s", [source])
                if source in self._sources:
                    self._sources[source].rows = 0
                return
            cursor.execute(
                f"DELETE FROM {STAGED} WHERE source = %s AND response = %s", [source, response]
            )
            if source in self._sources:
                self._sources[source].rows -= cursor.rowcount
                self._sources[source].runs_exact = False

    def forget(self, source: int) -> None:
        """Drop what is noted of a source that will not be written, once no thread reads it."""
        self._sources.pop(source, None)

    def flush(
        self,
        sources: list[int],
        *,
        strict: bool,
        before_commit: Callable[[list[int]], None],
    ) -> dict[int, LoadCounts | str]:
        """Write the staged readings of `sources` (complete, no unit in two of them) in one
        transaction; returns each one's counts, or why it failed (--strict and duplicates).

        `before_commit(written)` runs inside the transaction. A database error rolls all of it
        back and is raised: the rows stay staged, to be written again one source at a time.
        """
        results: dict[int, LoadCounts | str] = {}
        with transaction.atomic():
            duplicates = self._drop_duplicates(
                [s for s in sources if s in self._sources and self._sources[s].may_repeat]
            )
            for source, found in duplicates.items():
                if strict:
                    first = found.first_duplicates[0]
                    results[source] = (
                        f"record {first.record}: duplicate of record {first.first_record} "
                        "(same unit, OBIS code and timestamp) (--strict)"
                    )
            written = [s for s in sources if s not in results]
            pruned_before, pruned = self._drop_pruned(written)
            overlapping = self._resolve_channels(written)
            with connection.cursor() as cursor:
                # The rows of fresh channels are new, as they are; those of the others are
                # compared with the stored readings of their spans, and the ones new or
                # different set aside.
                cursor.execute(
                    f"INSERT INTO {READINGS} ({COLUMNS}) SELECT c.channel_id, s.timestamp, "
                    f"s.value, s.quality, s.measurement FROM {STAGED} s JOIN {CHANNELS} c "
                    "ON c.source = s.source AND c.channel_key = s.channel_key WHERE c.fresh"
                )
                if overlapping:
                    self._write_changes(cursor)
                rollups.add(cursor, INSERTED)
                # After add: a recomputed period already holds the inserted readings, which
                # add would otherwise count a second time.
                if overlapping:
                    rollups.recompute(
                        cursor, f"SELECT channel_id, timestamp FROM {CHANGES} WHERE NOT is_new"
                    )
                cursor.execute(
                    "SELECT source, channel_id, SUM(CASE WHEN is_new THEN 1 ELSE 0 END), "
                    f"SUM(CASE WHEN is_new THEN 0 ELSE 1 END) FROM {CHANGES} "
                    "GROUP BY source, channel_id "
                    f"UNION ALL SELECT source, channel_id, staged, 0 FROM {CHANNELS} WHERE fresh"
                )
                changed = cursor.fetchall()
            for source in written:
                staged = self._sources.get(source, _Staged())
                found = duplicates.get(source, LoadCounts())
                counts = results[source] = LoadCounts(
                    duplicates=found.duplicates,
                    first_duplicates=found.first_duplicates,
                    units=sorted({str(muid) for muid, _ in staged.channels}),
                    obis_codes=sorted({code for _, code in staged.channels}),
                )
                counts.unchanged = staged.rows - found.duplicates
                if source in pruned:
                    counts.pruned, counts.pruned_before = pruned[source], pruned_before
            for source, _, inserted, updated in changed:
                counts = results[source]
                counts.inserted += inserted
                counts.updated += updated
                counts.unchanged -= inserted + updated
            self._refresh_channels()
            before_commit(written)
            self._clear(sources)
        return results

    def _write_changes(self, cursor) -> None:
        """Of the staged rows of the channels that are not fresh, set aside those new or
        different from the stored readings (CHANGES), and write them."""
        if self._postgres:
            # Row counts for the planner: without them it sorts both sides of the join.
            cursor.execute(f"ANALYZE {STAGED}, {CHANNELS}")
        cursor.execute(
            f"INSERT INTO {CHANGES} SELECT c.source, c.channel_id, s.timestamp, s.value, "
            "s.quality, s.measurement, r.channel_id IS NULL "
            f"FROM {STAGED} s JOIN {CHANNELS} c ON c.source = s.source "
            "AND c.channel_key = s.channel_key AND NOT c.fresh "
            f"LEFT JOIN ({STORED_IN_SPANS}) r ON r.channel_id = c.channel_id "
            "AND r.timestamp = s.timestamp "
            f"WHERE r.channel_id IS NULL OR ({CHANGED.format(t='r', e='s')})"
        )
        # "WHERE true": SQLite's parser needs it before ON CONFLICT in INSERT .. SELECT.
        cursor.execute(
            f"INSERT INTO {READINGS} ({COLUMNS}) SELECT {COLUMNS} FROM {CHANGES} "
            "WHERE true ON CONFLICT (channel_id, timestamp) DO UPDATE SET "
            "value = excluded.value, quality = excluded.quality, "
            "measurement = excluded.measurement"
        )

    def _drop_duplicates(self, sources: list[int]) -> dict[int, LoadCounts]:
        """Delete the repeats of a (channel, timestamp) inside each source: the first record
        wins. Returns, per source with any, their number and the first few."""
        if not sources:
            return {}
        marks = ", ".join(["%s"] * len(sources))
        repeats = (
            f"SELECT s.source, s.channel_key, s.record, f.first FROM {STAGED} s JOIN ("
            f"  SELECT source, channel_key, timestamp, MIN(record) AS first FROM {STAGED}"
            f"  WHERE source IN ({marks}) GROUP BY source, channel_key, timestamp"
            "   HAVING COUNT(*) > 1"
            ") f ON s.source = f.source AND s.channel_key = f.channel_key "
            "AND s.timestamp = f.timestamp WHERE s.record <> f.first"
        )
        found: dict[int, LoadCounts] = {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT source, record, first, total FROM (SELECT d.*, "
                "ROW_NUMBER() OVER (PARTITION BY source ORDER BY record) AS n, "
                f"COUNT(*) OVER (PARTITION BY source) AS total FROM ({repeats}) d) x "
                "WHERE n <= %s ORDER BY source, record",
                [*sources, SHOWN_REJECTIONS],
            )
            for source, record, first, total in cursor.fetchall():
                counts = found.setdefault(source, LoadCounts(duplicates=total))
                counts.first_duplicates.append(Duplicate(record, first))
            if found:
                cursor.execute(
                    f"DELETE FROM {STAGED} WHERE (source, channel_key, record) IN "
                    f"(SELECT source, channel_key, record FROM ({repeats}) d)",
                    sources,
                )
        return found

    def _drop_pruned(self, sources: list[int]) -> tuple[datetime | None, dict[int, int]]:
        """Delete the staged readings older than the retention boundary: the rollups still
        count the readings pruned there, so one written again would be counted twice. Returns
        the boundary and, per source with any, their number."""
        before = raw_readings_since()
        if before is None or not sources:
            return before, {}
        marks = ", ".join(["%s"] * len(sources))
        where = f"source IN ({marks}) AND timestamp < %s"
        params = [*sources, connection.ops.adapt_datetimefield_value(before)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT source, COUNT(*) FROM {STAGED} WHERE {where} GROUP BY source", params
            )
            found = dict(cursor.fetchall())
            if found:
                cursor.execute(f"DELETE FROM {STAGED} WHERE {where}", params)
        for source, count in found.items():
            self._sources[source].rows -= count
            self._sources[source].runs_exact = False  # their spans no longer hold
        return before, found

    def _resolve_channels(self, sources: list[int]) -> bool:
        """Lock the sources' units, creating them and their new channels; fills CHANNELS.
        Returns whether any channel is not fresh (its staged rows must be compared).

        Units are locked in muid order, so that concurrent ingests cannot deadlock; the lock
        serialises ingests of the same unit to the commit."""
        keys = {
            (source, key): channel
            for source in sources
            if source in self._sources
            for channel, key in self._sources[source].channels.items()
        }
        if not keys:
            return False
        muids = sorted({muid for muid, _ in keys.values()})
        Unit.objects.bulk_create([Unit(muid=muid) for muid in muids], ignore_conflicts=True)
        units = dict(
            Unit.objects.select_for_update()
            .filter(muid__in=muids)
            .order_by("muid")
            .values_list("muid", "pk")
        )
        wanted = {(units[muid], obis) for muid, obis in keys.values()}
        Channel.objects.bulk_create(
            [Channel(unit_id=unit, obis=obis) for unit, obis in sorted(wanted)],
            ignore_conflicts=True,
        )
        ids = {
            (unit, obis): pk
            for unit, obis, pk in Channel.objects.filter(unit_id__in=units.values()).values_list(
                "unit_id", "obis", "pk"
            )
        }
        channel_ids = {
            source_key: ids[(units[muid], obis)] for source_key, (muid, obis) in keys.items()
        }
        adapt = connection.ops.adapt_datetimefield_value
        rows = []
        all_fresh = True
        for (source, key), channel_id in channel_ids.items():
            staged = self._sources[source]
            _, _, first, last, count = staged.runs[key]
            fresh = staged.runs_exact and not staged.may_repeat
            all_fresh = all_fresh and fresh
            rows.append((source, key, channel_id, fresh, count, adapt(first), adapt(last)))
        with connection.cursor() as cursor:
            for start in range(0, len(rows), ROWS_PER_INSERT):
                chunk = rows[start : start + ROWS_PER_INSERT]
                cursor.execute(
                    f"INSERT INTO {CHANNELS} VALUES "
                    + ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(chunk)),
                    [value for row in chunk for value in row],
                )
            # A channel with a stored reading in its staged span is not fresh. OFFSET 0 keeps
            # the test one index probe per channel: PostgreSQL would otherwise turn EXISTS
            # into a join that reads every stored reading.
            cursor.execute(
                f"UPDATE {CHANNELS} SET fresh = false WHERE fresh AND EXISTS (SELECT 1 FROM "
                f"{READINGS} r WHERE r.channel_id = {CHANNELS}.channel_id "
                f"AND r.timestamp >= {CHANNELS}.first AND r.timestamp <= {CHANNELS}.last "
                "LIMIT 1 OFFSET 0)"
            )
            return cursor.rowcount > 0 or not all_fresh

    def _refresh_channels(self) -> None:
        """Move the span, count and data_changed_at of each channel whose readings changed
        (an unchanged channel keeps data_changed_at, the analysis cache's key). The stored
        span already covers the updated and unchanged readings: only new ones extend it."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {CHANNEL_TABLE} SET "
                "reading_count = reading_count + n.inserted, "
                "first_reading_at = CASE WHEN first_reading_at IS NULL "
                "OR n.first < first_reading_at THEN n.first ELSE first_reading_at END, "
                "last_reading_at = CASE WHEN last_reading_at IS NULL "
                "OR n.last > last_reading_at THEN n.last ELSE last_reading_at END, "
                "data_changed_at = %s "
                f"FROM ({NEW_PER_CHANNEL}) n WHERE {CHANNEL_TABLE}.id = n.channel_id",
                [connection.ops.adapt_datetimefield_value(timezone.now())],
            )

    def _clear(self, sources: list[int]) -> None:
        for source in sources:
            self._sources.pop(source, None)
        # TRUNCATE: PostgreSQL empties a table at once instead of deleting row by row.
        empty = "TRUNCATE" if self._postgres else "DELETE FROM"
        with connection.cursor() as cursor:
            cursor.execute(f"{empty} {CHANGES}")
            cursor.execute(f"{empty} {CHANNELS}")
            if self._sources:
                marks = ", ".join(["%s"] * len(sources))
                cursor.execute(f"DELETE FROM {STAGED} WHERE source IN ({marks})", sources)
            else:
                cursor.execute(f"{empty} {STAGED}")
