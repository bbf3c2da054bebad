"""Load readings: stage a source's readings in a temporary table, then upsert them at once.

On PostgreSQL the staging table is filled with COPY; elsewhere (SQLite) with batched inserts.
Duplicates inside a source, the insert/update/unchanged counts and the upsert are then each one
SQL statement over the staged rows, so the cost per reading is the database's, not Python's.
Call everything inside one transaction: nothing is visible until the caller commits.
"""

import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Max, Min
from django.utils import timezone

from meters.ingest.parse import ParsedReading
from meters.models import Channel, Reading, Unit

STAGING = "meters_reading_staging"
READINGS = Reading._meta.db_table
# A stored reading {t} differs from its incoming version {e}.
CHANGED = (
    "{t}.value <> {e}.value OR {t}.quality <> {e}.quality OR {t}.measurement <> {e}.measurement"
)


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
    """Collects one source's readings, then writes them to the readings table in one upsert."""

    def __init__(self, *, shown_duplicates: int) -> None:
        self._shown_duplicates = shown_duplicates
        self._channel_ids: dict[tuple[uuid.UUID, str], int] = {}
        self._seq = 0
        self._postgres = connection.vendor == "postgresql"
        timestamp_type = Reading._meta.get_field("timestamp").db_type(connection)
        value_type = Reading._meta.get_field("value").db_type(connection)
        # ON COMMIT DROP cleans up after a top-level transaction; the explicit DROP covers an
        # ingest nested in an outer transaction (and SQLite, which keeps temporary tables for
        # the connection's life).
        schema, suffix = ("pg_temp", "ON COMMIT DROP") if self._postgres else ("temp", "")
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {schema}.{STAGING}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {STAGING} ("
                "seq bigint NOT NULL, record bigint NOT NULL, response integer NOT NULL, "
                f"channel_id bigint NOT NULL, timestamp {timestamp_type} NOT NULL, "
                f"value {value_type} NOT NULL, quality varchar(32) NOT NULL, "
                f"measurement varchar(32) NOT NULL) {suffix}"
            )

    @property
    def channel_keys(self) -> list[tuple[uuid.UUID, str]]:
        return sorted(self._channel_ids)

    def stage(
        self, readings: Sequence[ParsedReading], *, response: int, record_offset: int = 0
    ) -> None:
        """Add a batch of readings, tagged with the response (request) they came from.

        `record_offset` numbers records across the responses of one source.
        """
        if not readings:
            return
        rows = [
            (
                self._seq + offset,
                record_offset + r.record,
                response,
                self._channel_id(r.muid, r.obis),
                r.timestamp,
                r.value,
                r.quality,
                r.measurement,
            )
            for offset, r in enumerate(readings)
        ]
        self._seq += len(rows)
        with connection.cursor() as cursor:
            if self._postgres:
                _copy(cursor, rows)
            else:
                adapt = connection.ops.adapt_datetimefield_value
                cursor.executemany(
                    f"INSERT INTO {STAGING} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [(*row[:4], adapt(row[4]), *row[5:]) for row in rows],
                )

    def discard(self, *, response: int) -> None:
        """Forget the readings of one response (a repeat of what was already staged)."""
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {STAGING} WHERE response = %s", [response])

    def finish(self) -> LoadCounts:
        """Drop duplicates inside the source, upsert, and refresh the touched channels."""
        duplicates, first_duplicates = self._drop_duplicates()
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

    def _channel_id(self, muid: uuid.UUID, obis: str) -> int:
        key = (muid, obis)
        if key not in self._channel_ids:
            # Locking the unit row serialises concurrent ingests of the same unit.
            unit, _ = Unit.objects.select_for_update().get_or_create(muid=muid)
            channel, _ = Channel.objects.get_or_create(unit=unit, obis=obis)
            self._channel_ids[key] = channel.pk
        return self._channel_ids[key]

    def _drop_duplicates(self) -> tuple[int, list[Duplicate]]:
        # The first occurrence of a (channel, timestamp) wins; later ones are reported.
        repeats = (
            f"SELECT s.seq, s.record, k.record AS first_record FROM {STAGING} s JOIN ("
            f"  SELECT channel_id, timestamp, MIN(seq) AS seq, MIN(record) AS record"
            f"  FROM {STAGING} GROUP BY channel_id, timestamp HAVING COUNT(*) > 1"
            f") k ON s.channel_id = k.channel_id AND s.timestamp = k.timestamp AND s.seq <> k.seq"
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
        on_conflict = (
            "ON CONFLICT (channel_id, timestamp) DO UPDATE SET value = excluded.value, "
            "quality = excluded.quality, measurement = excluded.measurement "
            f"WHERE {CHANGED.format(t=READINGS, e='excluded')}"
        )
        if self._postgres:
            # xmax = 0 marks a freshly inserted row; unchanged rows are not written at all.
            cursor.execute(
                f"WITH written AS (INSERT INTO {READINGS} ({columns}) "
                f"SELECT {columns} FROM {STAGING} {on_conflict} RETURNING (xmax = 0) AS inserted) "
                "SELECT COUNT(*) FILTER (WHERE inserted), COUNT(*) FILTER (WHERE NOT inserted) "
                "FROM written"
            )
            inserted, updated = cursor.fetchone()
            return inserted, updated
        cursor.execute(
            f"SELECT COALESCE(SUM(r.id IS NULL), 0), "
            f"COALESCE(SUM(r.id IS NOT NULL AND ({CHANGED.format(t='r', e='s')})), 0) "
            f"FROM {STAGING} s LEFT JOIN {READINGS} r "
            "ON r.channel_id = s.channel_id AND r.timestamp = s.timestamp"
        )
        inserted, updated = cursor.fetchone()
        # "WHERE true" resolves SQLite's parsing ambiguity of INSERT ... SELECT ... ON CONFLICT.
        cursor.execute(
            f"INSERT INTO {READINGS} ({columns}) SELECT {columns} FROM {STAGING} WHERE true "
            + on_conflict
        )
        return inserted, updated

    def _refresh_channels(self, *, changed: bool) -> None:
        channel_ids = list(self._channel_ids.values())
        if not channel_ids:
            return
        stats = {
            row["channel_id"]: row
            for row in Reading.objects.filter(channel_id__in=channel_ids)
            .values("channel_id")
            .annotate(first=Min("timestamp"), last=Max("timestamp"), count=Count("*"))
        }
        now = timezone.now()
        channels = list(Channel.objects.filter(pk__in=channel_ids))
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


def _copy(cursor, rows: list[tuple]) -> None:
    # Quality and measurement are validated words (no tabs, backslashes or newlines), so the
    # text format needs no escaping.
    buffer = io.StringIO()
    buffer.writelines(
        f"{seq}\t{record}\t{response}\t{channel}\t{ts.isoformat()}\t{value}\t{quality}\t{measurement}\n"
        for seq, record, response, channel, ts, value, quality, measurement in rows
    )
    buffer.seek(0)
    cursor.copy_expert(f"COPY {STAGING} FROM STDIN", buffer)
