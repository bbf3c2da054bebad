"""Load readings: stage a source's readings in a temporary table, then upsert them at once.

On PostgreSQL one COPY per response consumes the readings while the document is still being
parsed, so the server loads on one core while Python parses on the other; on SQLite batched
inserts fill the table. Channels are resolved once per source, duplicates inside it, the
insert/update/unchanged counts and the upsert are each one SQL statement over the staged rows:
the cost per reading is the database's, not Python's, and memory stays bounded.
A first load skips the staging table: see `StagingLoader.copy_directly`.
Call everything inside one transaction: nothing is visible until the caller commits.
"""

import logging
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice

import psycopg2
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone
from psycopg2 import errorcodes

from meters.ingest.errors import one_line
from meters.ingest.parse import ParsedReading
from meters.ingest.producer import LineProducer
from meters.models import Channel, Reading, Unit

STAGING = "meters_reading_staging"
STAGING_CHANNELS = "meters_channel_staging"
# While a document is staged (PostgreSQL): the segment just copied, and the staged rows that
# differ from the stored ones.
SEGMENT = "meters_reading_segment"
CHANGES = "meters_reading_changes"
READINGS = Reading._meta.db_table
# A stored reading {t} differs from its incoming version {e}.
CHANGED = (
    "{t}.value <> {e}.value OR {t}.quality <> {e}.quality OR {t}.measurement <> {e}.measurement"
)
# Lines handed to COPY per read, about 50 kB.
COPY_LINES = 500
# Staged rows per segment: each is compared with the stored readings while the parse goes on.
SEGMENT_ROWS = 50_000
# Memory PostgreSQL may use per sort or hash while the staged rows are merged.
STAGING_WORK_MEM = "64MB"
# How long a direct COPY waits for a unit another ingest holds before staging instead; below
# PostgreSQL's deadlock_timeout (1s), so that this ingest gives way before a deadlock is
# resolved by failing one of the two.
DIRECT_LOCK_TIMEOUT = "200ms"

logger = logging.getLogger(__name__)


class _Staged(Exception):
    """Why a document cannot be copied straight into the readings table."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    record: int
    first_record: int


@dataclass(frozen=True, slots=True)
class LoadCounts:
    inserted: int
    updated: int
    unchanged: int
    duplicates: int
    first_duplicates: list[Duplicate]
    # Of `inserted`, the readings copied straight into the readings table.
    copied: int


class StagingLoader:
    """Collects one source's readings, then writes them to the readings table in one upsert;
    or, for a first load, copies them straight into it (`copy_directly`).

    Staged rows carry a small channel key (one per unit and OBIS code met in the source), since
    no query can run on the connection while a COPY is under way; `finish` maps the keys to
    channels, creating the units and channels that are new.
    """

    def __init__(self, *, batch_size: int, shown_duplicates: int) -> None:
        self._batch_size = batch_size
        self._shown_duplicates = shown_duplicates
        self._keys: dict[tuple[uuid.UUID, str], int] = {}
        self._channel_ids: dict[int, int] = {}  # channel key -> channel id, once resolved
        self._seq = 0
        # Staged rows since deleted: repeats of a discarded response, duplicates in the source.
        self._removed = 0
        self._copied = 0
        # The reading that ended a direct COPY: its channel is resolved before the next one.
        self._unresolved: ParsedReading | None = None
        # Per channel key: (first timestamp, last timestamp, direction); see _lines. Only the
        # COPY path keeps them; SQLite always checks for duplicates in SQL.
        self._runs: dict[int, tuple] = {}
        self._monotonic = self._postgres = connection.vendor == "postgresql"
        timestamp_type = Reading._meta.get_field("timestamp").db_type(connection)
        value_type = Reading._meta.get_field("value").db_type(connection)
        self._create_temporary(
            STAGING,
            "seq bigint NOT NULL, record bigint NOT NULL, response integer NOT NULL, "
            f"channel_key integer NOT NULL, timestamp {timestamp_type} NOT NULL, "
            f"value {value_type} NOT NULL, quality varchar(32) NOT NULL, "
            "measurement varchar(32) NOT NULL",
        )
        self._create_temporary(
            STAGING_CHANNELS, "channel_key integer PRIMARY KEY, channel_id bigint NOT NULL"
        )
        # Per channel key: (channel id, data_changed_at) when its staged rows were first
        # compared with the stored ones; (None, None) for a channel that did not exist.
        self._seen: dict[int, tuple[int | None, object]] = {}
        if self._postgres:
            for table in (SEGMENT, CHANGES):
                self._create_temporary(table, f"LIKE {STAGING}")
            # The duplicate check and the upsert group and join the staged rows: with room in
            # memory they hash instead of sorting on disk. Only for this transaction.
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL work_mem = '{STAGING_WORK_MEM}'")

    @property
    def channel_keys(self) -> list[tuple[uuid.UUID, str]]:
        return sorted(self._keys)

    def stage(
        self, readings: Iterable[ParsedReading], *, response: int, record_offset: int = 0
    ) -> None:
        """Stream readings into the staging table, tagged with the response they came from.

        `record_offset` numbers records across the responses of one source.

        On PostgreSQL the document is parsed on a thread of its own and copied in segments;
        after each segment, the database sets the rows that differ from the stored readings
        aside (CHANGES) while the parse goes on. A re-ingest then finds its comparison done
        when the document ends, instead of starting it then (see finish).
        """
        with connection.cursor() as cursor:
            if self._postgres:
                lines = self._lines(
                    readings, self._keys, self._runs, response=response, record_offset=record_offset
                )
                self._stage_in_segments(cursor, LineProducer(lines))
                return
            rows = self._rows(readings, response, record_offset)
            adapt = connection.ops.adapt_datetimefield_value
            while batch := list(islice(rows, self._batch_size)):
                cursor.executemany(
                    f"INSERT INTO {STAGING} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [(*row[:4], adapt(row[4]), *row[5:]) for row in batch],
                )

    def _stage_in_segments(self, cursor, producer: LineProducer) -> None:
        try:
            while True:
                stream = _SegmentStream(producer, SEGMENT_ROWS)
                _copy_from(cursor, f"COPY {SEGMENT} FROM STDIN", stream)
                self._compare_segment(cursor)
                if stream.exhausted:
                    return
        finally:
            producer.stop()

    def _compare_segment(self, cursor) -> None:
        """Move the segment into the staging table, and its rows that differ from the stored
        readings (or have none) into CHANGES as well. Without locks: finish checks that no
        other ingest wrote to these channels meanwhile.

        Each row is looked up in the readings' unique index, so the cost follows the segment,
        not the size of the readings table (the planner, without statistics on the segment,
        might otherwise hash the whole table). Channel keys are 0, 1, 2, ..., so a row finds
        its channel id in an array (NULL: a channel that did not exist, every row new).
        """
        # The keys the parse has given out so far (a copy: the parsing thread adds to them).
        for (muid, obis), key in list(self._keys.items()):
            if key not in self._seen:
                found = Channel.objects.filter(unit__muid=muid, obis=obis).values_list(
                    "pk", "data_changed_at"
                )
                self._seen[key] = found.first() or (None, None)
        channel_ids = [self._seen[key][0] for key in range(len(self._seen))]
        if self._monotonic:
            # Without JIT: compiling each segment's plan took ~20 ms, more than it saves.
            cursor.execute(
                "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "
                "SET LOCAL jit = off; "
                f"INSERT INTO {CHANGES} SELECT s.* FROM {SEGMENT} s "
                f"LEFT JOIN {READINGS} r ON r.channel_id = (%s::bigint[])[s.channel_key + 1] "
                f"AND r.timestamp = s.timestamp WHERE r.id IS NULL OR "
                f"({CHANGED.format(t='r', e='s')}); "
                "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT; "
                "SET LOCAL jit TO DEFAULT",
                [channel_ids],
            )
        cursor.execute(f"INSERT INTO {STAGING} SELECT * FROM {SEGMENT}; TRUNCATE {SEGMENT}")

    def _compared_still_holds(self) -> bool:
        """Whether CHANGES holds every staged row that differs from the stored readings.

        It does when every channel's timestamps ran one way (no duplicate to drop first),
        every channel was compared, and no other ingest has written to any of them since:
        an ingest that writes sets the channel's data_changed_at before it commits and holds
        the unit's lock until then, and this ingest now holds those locks
        (_resolve_channels). A channel that did not exist then must still have no data.
        """
        if not self._postgres or not self._monotonic or self._seen.keys() != set(self._channel_ids):
            return False
        now = dict(
            Channel.objects.filter(pk__in=self._channel_ids.values()).values_list(
                "pk", "data_changed_at"
            )
        )
        return all(
            seen_id in (None, self._channel_ids[key])
            and seen_changed_at == now[self._channel_ids[key]]
            for key, (seen_id, seen_changed_at) in self._seen.items()
        )

    def copy_directly(self, readings: Iterator[ParsedReading]) -> bool:
        """COPY a source's first document straight into the readings table, if nothing stored
        can collide with it; returns False, with the database and the loader as they were,
        when the document must be staged instead.

        PostgreSQL only, before anything is staged. No staging pass follows the parse: the
        load overlaps with it entirely. Safe while each channel met (resolved, and its unit
        locked to the commit, when its first reading comes by) has no stored reading, and its
        timestamps run strictly one way: then no row repeats a stored one or another of the
        document. The first channel with stored readings, a unit another ingest holds (see
        DIRECT_LOCK_TIMEOUT), a timestamp that does not run one way, or a unique violation
        rolls back to a savepoint: the channels and units created on the way go too.
        """
        channels: dict[tuple[uuid.UUID, str], int] = {}
        runs: dict[int, tuple] = {}  # per channel: first, last timestamp, direction (_lines)
        copied = 0
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                reading = next(readings, None)
                while reading is not None:
                    muid, obis = reading.muid, reading.obis
                    channels[(muid, obis)] = self._empty_channel(cursor, muid, obis)
                    segment = chain([reading], readings)
                    copied += self._copy_segment(cursor, segment, channels, runs)
                    reading, self._unresolved = self._unresolved, None
        except _Staged as reason:
            logger.info("staging the document instead of copying it: %s", reason)
            self._unresolved = None
            return False
        for muid, obis in channels:
            self._keys[(muid, obis)] = len(self._keys)
        self._copied = copied
        return True

    def _empty_channel(self, cursor, muid: uuid.UUID, obis: str) -> int:
        """The channel's id, its unit locked, if it has no stored reading; raises _Staged."""
        cursor.execute(f"SET LOCAL lock_timeout = '{DIRECT_LOCK_TIMEOUT}'")
        try:
            unit, _ = Unit.objects.select_for_update().get_or_create(muid=muid)
            channel, created = Channel.objects.get_or_create(unit=unit, obis=obis)
        except DatabaseError as error:
            if _sqlstate(error) == errorcodes.LOCK_NOT_AVAILABLE:
                raise _Staged(f"unit {muid} is held by another ingest") from error
            raise
        cursor.execute("SET LOCAL lock_timeout TO DEFAULT")
        if not created and Reading.objects.filter(channel=channel).exists():
            raise _Staged(f"unit {muid}, {obis} has stored readings")
        return channel.pk

    def _copy_segment(
        self,
        cursor,
        readings: Iterator[ParsedReading],
        channels: dict[tuple[uuid.UUID, str], int],
        runs: dict[int, tuple],
    ) -> int:
        """One COPY into the readings table, up to the first reading of a channel not yet
        resolved (left in `_unresolved`); returns the rows copied."""
        stream = _LineStream(self._lines(readings, channels, runs))
        columns = "channel_id, timestamp, value, quality, measurement"
        try:
            _copy_from(cursor, f"COPY {READINGS} ({columns}) FROM STDIN", stream)
        except Exception as error:  # psycopg2's own error: copy_expert is not wrapped by Django
            if _sqlstate(error) == errorcodes.UNIQUE_VIOLATION:
                raise _Staged(one_line(error)) from error
            raise
        return cursor.rowcount

    def discard(self, *, response: int) -> None:
        """Forget the readings of one response (a repeat of what was already staged)."""
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {STAGING} WHERE response = %s", [response])
            self._removed += cursor.rowcount
            if self._postgres:
                cursor.execute(f"DELETE FROM {CHANGES} WHERE response = %s", [response])

    def finish(self) -> LoadCounts:
        """Resolve channels, drop duplicates inside the source, upsert, refresh the channels."""
        self._resolve_channels()
        # Compared while staging: only CHANGES can differ from what is stored.
        source = CHANGES if self._compared_still_holds() else STAGING
        # Timestamps that ran strictly one way per channel cannot repeat: no need to look.
        if self._monotonic:
            duplicates, first_duplicates = 0, []
        else:
            self._analyze(STAGING)
            duplicates, first_duplicates = self._drop_duplicates()
        self._removed += duplicates
        staged = self._seq - self._removed
        with connection.cursor() as cursor:
            inserted, updated = self._upsert(cursor, source)
        inserted += self._copied
        # Nothing written: the channels' spans and counts are those the last write left, and
        # data_changed_at (the analysis cache's key) stays. Only updates: only the latter moves.
        if inserted or updated:
            self._refresh_channels(recount=bool(inserted))
        return LoadCounts(
            inserted=inserted,
            updated=updated,
            unchanged=staged + self._copied - inserted - updated,
            duplicates=duplicates,
            first_duplicates=first_duplicates,
            copied=self._copied,
        )

    def _create_temporary(self, table: str, columns: str) -> None:
        # ON COMMIT DROP cleans up after a top-level transaction; the explicit DROP covers an
        # ingest nested in an outer transaction (and SQLite, which keeps temporary tables for
        # the connection's life).
        schema, suffix = ("pg_temp", "ON COMMIT DROP") if self._postgres else ("temp", "")
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {schema}.{table}")
            cursor.execute(f"CREATE TEMPORARY TABLE {table} ({columns}) {suffix}")

    def _lines(
        self,
        readings: Iterable[ParsedReading],
        channels: dict[tuple[uuid.UUID, str], int],
        runs: dict[int, tuple],
        *,
        response: int | None = None,
        record_offset: int = 0,
    ) -> Iterator[str]:
        """Readings as lines of COPY's text format; the hot loop of the ingest.

        With a `response`, rows of the staging table: a channel not in `channels` gets the next
        key, and a timestamp that does not run one way marks the source for the duplicate
        check (see finish). Without, rows of the readings table (see copy_directly): `channels`
        holds resolved channel ids, a channel not in it ends the lines (its reading is left in
        `_unresolved`), and a timestamp that does not run one way raises _Staged.

        Kept lean: the timestamp goes as the feed's own text where parse kept it, the value as
        its decimal text. A document runs channel by channel, so the channel and its run of
        timestamps (`runs`: the first and last one, the direction) are kept in locals and
        looked up only when the channel changes; muids and OBIS codes are shared objects
        (parse caches them), so the change is an identity test.
        """
        direct = response is None
        seq = self._seq
        muid = obis = channel = first = last = None
        direction = 0
        for r in readings:
            if r.muid is not muid or r.obis is not obis:
                if channel is not None:
                    runs[channel] = (first, last, direction)
                muid, obis = r.muid, r.obis
                channel = channels.get((muid, obis))
                if channel is None:
                    if direct:
                        self._unresolved = r
                        return
                    channel = channels[(muid, obis)] = len(channels)
                first, last, direction = runs.get(channel, (None, None, 0))
            # While every channel's timestamps run strictly one way, the source holds no
            # duplicate.
            timestamp = r.timestamp
            if last is not None:
                if direction >= 0 and timestamp > last:
                    direction = 1
                elif direction <= 0 and timestamp < last:
                    direction = -1
                elif direct:
                    raise _Staged(f"{obis} timestamps do not run one way (record {r.record})")
                else:
                    self._monotonic = False
            else:
                first = timestamp
            last = timestamp
            text = r.timestamp_text or timestamp.isoformat()
            if direct:
                yield f"{channel}\t{text}\t{r.value}\t{r.quality}\t{r.measurement}\n"
            else:
                yield (
                    f"{seq}\t{record_offset + r.record}\t{response}\t{channel}\t{text}\t"
                    f"{r.value}\t{r.quality}\t{r.measurement}\n"
                )
                seq += 1
        if channel is not None:
            runs[channel] = (first, last, direction)
        self._seq = seq

    def _rows(
        self, readings: Iterable[ParsedReading], response: int, record_offset: int
    ) -> Iterator[tuple]:
        keys = self._keys
        for r in readings:
            key = keys.setdefault((r.muid, r.obis), len(keys))
            yield (
                self._seq,
                record_offset + r.record,
                response,
                key,
                r.timestamp,
                r.value,
                r.quality,
                r.measurement,
            )
            self._seq += 1

    def _resolve_channels(self) -> None:
        # Sorted, so that concurrent ingests lock units in the same order.
        for (muid, obis), key in sorted(self._keys.items()):
            # Locking the unit row serialises concurrent ingests of the same unit.
            unit, _ = Unit.objects.select_for_update().get_or_create(muid=muid)
            channel, _ = Channel.objects.get_or_create(unit=unit, obis=obis)
            self._channel_ids[key] = channel.pk
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {STAGING_CHANNELS} VALUES (%s, %s)", list(self._channel_ids.items())
            )

    def _analyze(self, table: str) -> None:
        """Give staged rows statistics (PostgreSQL), before a query that groups or joins
        them: a temporary table has none, and the planner would guess their number."""
        if self._postgres:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {table}")

    def _drop_duplicates(self) -> tuple[int, list[Duplicate]]:
        # The first occurrence of a (channel, timestamp) wins; later ones are reported.
        repeats = (
            f"SELECT s.seq, s.record, k.record AS first_record FROM {STAGING} s JOIN ("
            f"  SELECT channel_key, timestamp, MIN(seq) AS seq, MIN(record) AS record"
            f"  FROM {STAGING} GROUP BY channel_key, timestamp HAVING COUNT(*) > 1"
            ") k ON s.channel_key = k.channel_key AND s.timestamp = k.timestamp AND s.seq <> k.seq"
        )
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM ({repeats}) r")
            (count,) = cursor.fetchone()
            if not count:
                return 0, []
            cursor.execute(
                f"SELECT record, first_record FROM ({repeats}) r ORDER BY seq LIMIT %s",
                [self._shown_duplicates],
            )
            shown = [Duplicate(record, first) for record, first in cursor.fetchall()]
            cursor.execute(f"DELETE FROM {STAGING} WHERE seq IN (SELECT seq FROM ({repeats}) r)")
        return count, shown

    def _upsert(self, cursor, source: str) -> tuple[int, int]:
        """Write the rows of `source` (STAGING, or CHANGES: those of it that differ)."""
        columns = "channel_id, timestamp, value, quality, measurement"
        staged = (
            f"SELECT c.channel_id, s.timestamp, s.value, s.quality, s.measurement "
            f"FROM {source} s JOIN {STAGING_CHANNELS} c ON c.channel_key = s.channel_key"
        )
        on_conflict = (
            "ON CONFLICT (channel_id, timestamp) DO UPDATE SET value = excluded.value, "
            "quality = excluded.quality, measurement = excluded.measurement "
            f"WHERE {CHANGED.format(t=READINGS, e='excluded')}"
        )
        if self._postgres and not self._overlaps_stored(cursor):
            # Nothing stored in the staged span of any channel: no conflict is possible (the
            # duplicates inside the source are gone), so a plain INSERT, with no speculative
            # insertion, no RETURNING and no counting pass.
            cursor.execute(f"INSERT INTO {READINGS} ({columns}) {staged}")
            return cursor.rowcount, 0
        if self._postgres:
            if source == STAGING:
                # Unchanged rows are left out before the upsert (one join on the unique
                # index), so a re-ingest does not attempt a speculative insertion per row.
                # CHANGES holds none. Either way the upsert's own WHERE decides.
                self._analyze(source)
                staged += (
                    f" LEFT JOIN {READINGS} r ON r.channel_id = c.channel_id "
                    f"AND r.timestamp = s.timestamp WHERE r.id IS NULL OR "
                    f"({CHANGED.format(t='r', e='s')})"
                )
            # xmax = 0 marks a freshly inserted row.
            cursor.execute(
                f"WITH written AS (INSERT INTO {READINGS} ({columns}) {staged} {on_conflict} "
                "RETURNING (xmax = 0) AS inserted) "
                "SELECT COUNT(*) FILTER (WHERE inserted), COUNT(*) FILTER (WHERE NOT inserted) "
                "FROM written"
            )
            inserted, updated = cursor.fetchone()
            return inserted, updated
        cursor.execute(
            f"SELECT COALESCE(SUM(r.id IS NULL), 0), "
            f"COALESCE(SUM(r.id IS NOT NULL AND ({CHANGED.format(t='r', e='s')})), 0) "
            f"FROM ({staged}) s LEFT JOIN {READINGS} r "
            "ON r.channel_id = s.channel_id AND r.timestamp = s.timestamp"
        )
        inserted, updated = cursor.fetchone()
        # "WHERE true" resolves SQLite's parsing ambiguity of INSERT ... SELECT ... ON CONFLICT.
        cursor.execute(f"INSERT INTO {READINGS} ({columns}) {staged} WHERE true {on_conflict}")
        return inserted, updated

    def _overlaps_stored(self, cursor) -> bool:
        """Whether any channel already holds a reading within the span staged for it.

        While every channel's timestamps ran one way, the parse saw each span's ends: one
        index probe per channel. Otherwise the spans are read from the staged rows. (A span
        may be wider than what is left staged, after a discarded response: then the answer
        errs towards the upsert, which is right either way.)
        """
        if self._monotonic:
            spans = [
                (self._channel_ids[key], min(first, last), max(first, last))
                for key, (first, last, _) in self._runs.items()
            ]
            if not spans:
                return False
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM (VALUES {', '.join(['(%s, %s, %s)'] * len(spans))})"
                f" span(channel_id, first, last) JOIN {READINGS} r "
                "ON r.channel_id = span.channel_id "
                "AND r.timestamp >= span.first AND r.timestamp <= span.last)",
                [value for span in spans for value in span],
            )
            return cursor.fetchone()[0]
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM ("
            f"  SELECT c.channel_id, MIN(s.timestamp) AS first, MAX(s.timestamp) AS last"
            f"  FROM {STAGING} s JOIN {STAGING_CHANNELS} c ON c.channel_key = s.channel_key"
            f"  GROUP BY c.channel_id"
            f") span JOIN {READINGS} r ON r.channel_id = span.channel_id "
            "AND r.timestamp >= span.first AND r.timestamp <= span.last)"
        )
        return cursor.fetchone()[0]

    def _refresh_channels(self, *, recount: bool) -> None:
        channel_ids = list(self._channel_ids.values())
        if not channel_ids:
            return
        now = timezone.now()
        if not recount:
            Channel.objects.filter(pk__in=channel_ids).update(data_changed_at=now)
            return
        stats = {
            row["channel_id"]: row
            for row in Reading.objects.filter(channel_id__in=channel_ids)
            .values("channel_id")
            .annotate(first=Min("timestamp"), last=Max("timestamp"), count=Count("*"))
        }
        channels = list(Channel.objects.filter(pk__in=channel_ids))
        for channel in channels:
            row = stats.get(channel.pk, {})
            channel.first_reading_at = row.get("first")
            channel.last_reading_at = row.get("last")
            channel.reading_count = row.get("count", 0)
            channel.data_changed_at = now
        Channel.objects.bulk_update(
            channels, ["first_reading_at", "last_reading_at", "reading_count", "data_changed_at"]
        )


def _copy_from(cursor, sql: str, stream: "_LineStream | _SegmentStream") -> None:
    """COPY from `stream`. A failure of the document being read (or _Staged) is raised as
    itself: psycopg2 reports it as a cancelled COPY, its own error, not wrapped by Django.
    So is the server's error when the server ends the connection mid-COPY."""
    with _printed_by_psycopg2() as printed:
        try:
            cursor.copy_expert(sql, stream)
        except Exception as error:
            if stream.error is not None:
                raise stream.error from None
            if (server_error := _server_error(printed)) is not None:
                raise server_error from error
            raise


@contextmanager
def _printed_by_psycopg2() -> Iterator[list[BaseException]]:
    """Collects what psycopg2 would print to stderr during a COPY, instead of printing it.

    When the server ends the connection mid-COPY, psycopg2 2.9 prints the server's error,
    chained to a SystemError of its own, through the interpreter's error display
    (`PyErr_Print`, which calls sys.excepthook), and then raises OperationalError("invalid
    socket"). A failed source is one line of the command's output, so the printed error is
    kept for _copy_from to raise. Only `PyErr_Print` and an uncaught exception of the main
    thread call sys.excepthook, and the main thread is in copy_expert meanwhile.
    """
    printed: list[BaseException] = []
    hook = sys.excepthook
    sys.excepthook = lambda kind, error, traceback: printed.append(error)
    try:
        yield printed
    finally:
        sys.excepthook = hook
        for error in printed:
            logger.debug("psycopg2 reported during a COPY: %s", one_line(error))


def _server_error(errors: list[BaseException]) -> psycopg2.Error | None:
    """The first error from the server (with a SQLSTATE) among `errors` and their causes."""
    seen: set[int] = set()  # a chain can loop back on itself
    for error in errors:
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            if isinstance(error, psycopg2.Error) and error.pgcode:
                return error
            error = error.__cause__ or error.__context__
    return None


def _sqlstate(error: Exception) -> str | None:
    """PostgreSQL's error code, from psycopg2's error or Django's wrapper of it."""
    return getattr(error, "pgcode", None) or getattr(error.__cause__, "pgcode", None)


class _SegmentStream:
    """COPY's input for one segment: the producer's chunks, until `rows` lines have passed
    or the producer is exhausted (then `exhausted`)."""

    def __init__(self, producer: LineProducer, rows: int) -> None:
        self._producer = producer
        self._left = rows
        self.exhausted = False
        self.error: Exception | None = None

    def read(self, size: int = -1) -> str:
        if self._left <= 0 or self.exhausted:
            return ""
        try:
            chunk = self._producer.next_chunk()
        except Exception as error:
            self.error = error
            raise
        if chunk is None:
            self.exhausted = True
            return ""
        text, lines = chunk
        self._left -= lines
        return text


class _LineStream:
    """COPY's input: a file whose reads pull the next lines from a generator."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.error: Exception | None = None

    def read(self, size: int = -1) -> str:
        try:
            return "".join(islice(self._lines, COPY_LINES))
        except Exception as error:
            self.error = error
            raise
