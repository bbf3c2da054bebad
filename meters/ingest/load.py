"""Load readings: stage a source's readings in a temporary table, then upsert them at once.

On PostgreSQL one COPY per response consumes the readings while the document is still being
parsed, so the server loads on one core while Python parses on the other; on SQLite batched
inserts fill the table. Channels are resolved once per source, duplicates inside it, the
insert/update/unchanged counts and the upsert are each one SQL statement over the staged rows:
the cost per reading is the database's, not Python's, and memory stays bounded.
Call everything inside one transaction: nothing is visible until the caller commits.
"""

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from django.db import connection
from django.db.models import Count, Max, Min
from django.utils import timezone

from meters.ingest.parse import ParsedReading
from meters.models import Channel, Reading, Unit

STAGING = "meters_reading_staging"
STAGING_CHANNELS = "meters_channel_staging"
READINGS = Reading._meta.db_table
# A stored reading {t} differs from its incoming version {e}.
CHANGED = (
    "{t}.value <> {e}.value OR {t}.quality <> {e}.quality OR {t}.measurement <> {e}.measurement"
)
# Lines handed to COPY per read, about 50 kB.
COPY_LINES = 500
# Memory PostgreSQL may use per sort or hash while the staged rows are merged.
STAGING_WORK_MEM = "64MB"


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


class StagingLoader:
    """Collects one source's readings, then writes them to the readings table in one upsert.

    Staged rows carry a small channel key (one per unit and OBIS code met in the source), since
    no query can run on the connection while a COPY is under way; `finish` maps the keys to
    channels, creating the units and channels that are new.
    """

    def __init__(self, *, batch_size: int, shown_duplicates: int) -> None:
        self._batch_size = batch_size
        self._shown_duplicates = shown_duplicates
        self._keys: dict[tuple[uuid.UUID, str], int] = {}
        self._channel_ids: list[int] = []
        self._seq = 0
        # Per channel key: (last timestamp, direction); see _lines. Only the COPY path keeps
        # them; SQLite always checks for duplicates in SQL.
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
        if self._postgres:
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
        """
        with connection.cursor() as cursor:
            if self._postgres:
                stream = _LineStream(self._lines(readings, response, record_offset))
                try:
                    cursor.copy_expert(f"COPY {STAGING} FROM STDIN", stream)
                except Exception:
                    # psycopg2 reports a failure of the document being read as a cancelled
                    # COPY (its own error, not wrapped by Django); the reason worth showing
                    # is that failure.
                    if stream.error is not None:
                        raise stream.error from None
                    raise
                return
            rows = self._rows(readings, response, record_offset)
            adapt = connection.ops.adapt_datetimefield_value
            while batch := list(islice(rows, self._batch_size)):
                cursor.executemany(
                    f"INSERT INTO {STAGING} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [(*row[:4], adapt(row[4]), *row[5:]) for row in batch],
                )

    def discard(self, *, response: int) -> None:
        """Forget the readings of one response (a repeat of what was already staged)."""
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {STAGING} WHERE response = %s", [response])

    def finish(self) -> LoadCounts:
        """Resolve channels, drop duplicates inside the source, upsert, refresh the channels."""
        if self._postgres:
            # A temporary table has no statistics until analysed: without them the planner
            # guesses the size of the staged rows and may pick a poor join for the upsert.
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {STAGING}")
        self._resolve_channels()
        # Timestamps that ran strictly one way per channel cannot repeat: no need to look.
        duplicates, first_duplicates = (0, []) if self._monotonic else self._drop_duplicates()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {STAGING}")
            (staged,) = cursor.fetchone()
            inserted, updated = self._upsert(cursor)
        self._refresh_channels(changed=bool(inserted or updated))
        return LoadCounts(
            inserted=inserted,
            updated=updated,
            unchanged=staged - inserted - updated,
            duplicates=duplicates,
            first_duplicates=first_duplicates,
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
        self, readings: Iterable[ParsedReading], response: int, record_offset: int
    ) -> Iterator[str]:
        """The staging rows as lines of COPY's text format; the hot loop of the ingest.

        Kept lean: the timestamp goes as the feed's own text where parse kept it, the value as
        its decimal text; no intermediate tuple per reading.
        """
        keys, runs = self._keys, self._runs
        for r in readings:
            key = keys.get((r.muid, r.obis))
            if key is None:
                key = keys[(r.muid, r.obis)] = len(keys)
            # Each channel's timestamps so far: the last one and the direction they run in.
            # While every channel's run strictly one way, the source holds no duplicate.
            timestamp = r.timestamp
            run = runs.get(key)
            if run is None:
                runs[key] = (timestamp, 0)
            elif run[1] >= 0 and timestamp > run[0]:
                runs[key] = (timestamp, 1)
            elif run[1] <= 0 and timestamp < run[0]:
                runs[key] = (timestamp, -1)
            else:
                self._monotonic = False
                runs[key] = (timestamp, 0 if timestamp == run[0] else run[1])
            yield (
                f"{self._seq}\t{record_offset + r.record}\t{response}\t{key}\t"
                f"{r.timestamp_text or timestamp.isoformat()}\t{r.value}\t{r.quality}\t"
                f"{r.measurement}\n"
            )
            self._seq += 1

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
        mapping = []
        # Sorted, so that concurrent ingests lock units in the same order.
        for (muid, obis), key in sorted(self._keys.items()):
            # Locking the unit row serialises concurrent ingests of the same unit.
            unit, _ = Unit.objects.select_for_update().get_or_create(muid=muid)
            channel, _ = Channel.objects.get_or_create(unit=unit, obis=obis)
            mapping.append((key, channel.pk))
        self._channel_ids = [channel_id for _, channel_id in mapping]
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {STAGING_CHANNELS} VALUES (%s, %s)", mapping)

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

    def _upsert(self, cursor) -> tuple[int, int]:
        columns = "channel_id, timestamp, value, quality, measurement"
        staged = (
            f"SELECT c.channel_id, s.timestamp, s.value, s.quality, s.measurement "
            f"FROM {STAGING} s JOIN {STAGING_CHANNELS} c ON c.channel_key = s.channel_key"
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
            # Unchanged rows are left out before the upsert (one join on the unique index),
            # so a re-ingest does not attempt a speculative insertion per row; the upsert's
            # own WHERE still decides. xmax = 0 marks a freshly inserted row.
            staged += (
                f" LEFT JOIN {READINGS} r ON r.channel_id = c.channel_id "
                f"AND r.timestamp = s.timestamp WHERE r.id IS NULL OR "
                f"({CHANGED.format(t='r', e='s')})"
            )
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
        """Whether any channel already holds a reading within the span staged for it."""
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM ("
            f"  SELECT c.channel_id, MIN(s.timestamp) AS first, MAX(s.timestamp) AS last"
            f"  FROM {STAGING} s JOIN {STAGING_CHANNELS} c ON c.channel_key = s.channel_key"
            f"  GROUP BY c.channel_id"
            f") span JOIN {READINGS} r ON r.channel_id = span.channel_id "
            "AND r.timestamp >= span.first AND r.timestamp <= span.last)"
        )
        return cursor.fetchone()[0]

    def _refresh_channels(self, *, changed: bool) -> None:
        if not self._channel_ids:
            return
        stats = {
            row["channel_id"]: row
            for row in Reading.objects.filter(channel_id__in=self._channel_ids)
            .values("channel_id")
            .annotate(first=Min("timestamp"), last=Max("timestamp"), count=Count("*"))
        }
        now = timezone.now()
        channels = list(Channel.objects.filter(pk__in=self._channel_ids))
        for channel in channels:
            row = stats.get(channel.pk, {})
            channel.first_reading_at = row.get("first")
            channel.last_reading_at = row.get("last")
            channel.reading_count = row.get("count", 0)
            if changed:
                channel.data_changed_at = now
        Channel.objects.bulk_update(
            channels, ["first_reading_at", "last_reading_at", "reading_count", "data_changed_at"]
        )


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
