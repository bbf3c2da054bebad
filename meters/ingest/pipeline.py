"""Ingest one source: fetch, parse and validate, load. All of a source or nothing of it.

A unit is read from the metering platform's query API in time windows
(`?muid=..&measurement=energy&start=..&stop=..&limit=..`), so that no response is cut by
`limit`. A static copy of the API (such as the challenge files) ignores those parameters and
returns everything at once; the first response that holds readings outside its window shows
that, and the unit is then read from that one response.
"""

import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import requests
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Min

from meters.ingest.errors import SourceError, SourceUnreachable, one_line
from meters.ingest.fetch import Spool, http_session, open_location, unit_url
from meters.ingest.load import StagingLoader
from meters.ingest.parse import ParsedReading, Rejection, parse_readings
from meters.models import Channel
from meters.moments import format_utc

MEASUREMENT = "energy"
# How many rejected records a report lists by index and reason (all are counted).
SHOWN_REJECTIONS = 5
# Readings between two progress reports on a terminal.
PROGRESS_EVERY = 50_000
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time range [start, stop) asked of the source in one request."""

    start: datetime
    stop: datetime

    def contains(self, timestamp: datetime) -> bool:
        return self.start <= timestamp < self.stop

    def params(self, muid: uuid.UUID, limit: int) -> dict[str, str]:
        return {
            "muid": str(muid),
            "measurement": MEASUREMENT,
            "start": format_utc(self.start),
            "stop": format_utc(self.stop),
            "limit": str(limit),
        }

    def split(self, size: timedelta) -> list["Window"]:
        windows, start = [], self.start
        while start < self.stop:
            windows.append(Window(start, min(start + size, self.stop)))
            start += size
        return windows

    def around(self, first: datetime, last: datetime) -> list["Window"]:
        """The parts of this window before `first` and after `last` (a response cut by limit)."""
        parts = [Window(self.start, first), Window(last + timedelta(microseconds=1), self.stop)]
        return [part for part in parts if part.start < part.stop]


@dataclass
class IngestReport:
    """What one source did to the database; `error` is set when nothing of it was stored."""

    source: str
    error: str | None = None
    note: str = ""
    units: list[str] = field(default_factory=list)
    obis_codes: list[str] = field(default_factory=list)
    records: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    seconds: float = 0.0
    # Of `inserted`, the readings copied straight into the readings table (no staging).
    copied: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def readings(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def readings_per_second(self) -> float:
        return self.readings / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Tally:
    """Counts of one response, kept apart until the response is known to be kept."""

    records: int = 0
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    outside_window: bool = False


class _Collector:
    """Streams the documents of one source into a staging loader and adds up their tallies."""

    def __init__(self, report: IngestReport, *, strict: bool, progress: Progress | None) -> None:
        self.report = report
        self._strict = strict
        self._progress = progress
        self._loader = StagingLoader(
            batch_size=settings.METERS_INGEST_BATCH_SIZE, shown_duplicates=SHOWN_REJECTIONS
        )
        self._responses = 0
        self._staged = 0
        self._copy_directly = connection.vendor == "postgresql"

    def read(
        self,
        stream: IO[bytes],
        *,
        expected_muid: uuid.UUID | None = None,
        window: Window | None = None,
    ) -> tuple[int, _Tally]:
        """Load one document; returns its response number and tally.

        The first document of a source is offered to the loader's direct COPY (PostgreSQL); a
        copy of its bytes is kept on the way, so that when the loader declines, the document is
        read again from that copy into staging, not fetched again. Later documents are staged:
        windows after the first meet the channels the first one filled, and a response that
        `discard` may remove must be in the staging table.
        """
        response, offset = self._responses, self.report.records
        self._responses += 1
        if response == 0 and self._copy_directly:
            with tempfile.TemporaryFile() as copy:
                spool = Spool(stream, copy)
                tally, staged = _Tally(), self._staged
                readings = self._accepted(
                    parse_readings(spool, expected_muid=expected_muid), tally, window, offset
                )
                if self._loader.copy_directly(readings):
                    return response, tally
                self._staged = staged
                return response, self._stage(spool.again(), response, offset, expected_muid, window)
        return response, self._stage(stream, response, offset, expected_muid, window)

    def _stage(
        self,
        stream: IO[bytes],
        response: int,
        offset: int,
        expected_muid: uuid.UUID | None,
        window: Window | None,
    ) -> _Tally:
        tally = _Tally()
        readings = self._accepted(
            parse_readings(stream, expected_muid=expected_muid), tally, window, offset
        )
        self._loader.stage(readings, response=response, record_offset=offset)
        return tally

    def keep(self, tally: _Tally) -> None:
        report = self.report
        report.records += tally.records
        report.rejected += tally.rejected
        report.rejections.extend(tally.rejections[: SHOWN_REJECTIONS - len(report.rejections)])
        for moment in (tally.first, tally.last):
            if moment is not None:
                report.first = min(report.first or moment, moment)
                report.last = max(report.last or moment, moment)

    def discard(self, response: int) -> None:
        self._loader.discard(response=response)

    def finish(self) -> None:
        counts = self._loader.finish()
        report = self.report
        duplicates = [
            f"record {duplicate.record}: duplicate of record {duplicate.first_record} "
            "(same unit, OBIS code and timestamp)"
            for duplicate in counts.first_duplicates
        ]
        if self._strict and duplicates:
            raise SourceError(f"{duplicates[0]} (--strict)")
        report.rejections.extend(duplicates[: SHOWN_REJECTIONS - len(report.rejections)])
        report.rejected += counts.duplicates
        report.inserted, report.updated, report.unchanged = (
            counts.inserted,
            counts.updated,
            counts.unchanged,
        )
        report.copied = counts.copied
        keys = self._loader.channel_keys
        report.units = sorted({str(muid) for muid, _ in keys})
        report.obis_codes = sorted({code for _, code in keys})

    def _reject(self, tally: _Tally, message: str) -> None:
        if self._strict:
            raise SourceError(f"{message} (--strict)")
        tally.rejected += 1
        if len(tally.rejections) < SHOWN_REJECTIONS:
            tally.rejections.append(message)

    def _accepted(
        self,
        items: Iterator[ParsedReading | Rejection],
        tally: _Tally,
        window: Window | None,
        offset: int,
    ) -> Iterator[ParsedReading]:
        """The valid readings of a document, counting what passes by on the way.

        Once per reading: the span is kept in locals and written to the tally at the end of
        the document (whoever reads the tally has read the whole document); a span inside the
        window has every reading inside it.
        """
        record, first, last = -1, None, None
        staged, progress = self._staged, self._progress
        for item in items:
            record = item.record
            if type(item) is Rejection:
                self._reject(tally, f"record {offset + record}: {item.reason}")
                continue
            moment = item.timestamp
            if first is None:
                first = last = moment
            elif moment < first:
                first = moment
            elif moment > last:
                last = moment
            staged += 1
            if progress and staged % PROGRESS_EVERY == 0:
                progress(staged)
            yield item
        self._staged = staged
        tally.records, tally.first, tally.last = record + 1, first, last
        if window is not None and first is not None:
            tally.outside_window = not (window.contains(first) and window.contains(last))


def ingest_location(
    location: str,
    *,
    strict: bool = False,
    session: requests.Session | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest one document from a file path or an http(s) URL, fetched as given."""
    session = session or http_session()

    def read(collector: _Collector) -> None:
        with open_location(location, session=session) as stream:
            _, tally = collector.read(stream)
        collector.keep(tally)

    return _run(IngestReport(location), read, strict=strict, progress=progress)


def ingest_unit(
    muid: uuid.UUID,
    *,
    start: datetime | None = None,
    stop: datetime | None = None,
    strict: bool = False,
    fallback_dir: Path | None = None,
    session: requests.Session | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest one unit from the configured source, in time windows from `start` to `stop`.

    `start` defaults to the unit's last stored reading (or the configured history start),
    `stop` to now. With `fallback_dir`, a source that cannot be reached at all is replaced by
    the copy `<fallback_dir>/<muid>.json`, and the report says so.
    """
    session = session or http_session()
    url = unit_url(str(muid))
    window = Window(start or resume_point(muid), stop or datetime.now(UTC))

    def read(collector: _Collector) -> None:
        _read_windows(collector, session, url, muid, window)

    copy = fallback_dir / f"{muid}.json" if fallback_dir else None
    if copy is None or not copy.exists():
        return _run(IngestReport(url), read, strict=strict, progress=progress)
    try:
        return _run(
            IngestReport(url), read, strict=strict, progress=progress, passthrough=SourceUnreachable
        )
    except SourceUnreachable as error:
        report = ingest_location(str(copy), strict=strict, session=session, progress=progress)
        report.note = f"shipped copy, used because the source is unreachable: {error}"
        return report


def resume_point(muid: uuid.UUID) -> datetime:
    """Where an incremental read of a unit starts: its channels' earliest last reading."""
    last = Channel.objects.filter(unit__muid=muid).aggregate(at=Min("last_reading_at"))["at"]
    return last or datetime.fromisoformat(settings.METERS_HISTORY_START)


def _read_windows(
    collector: _Collector, session: requests.Session, url: str, muid: uuid.UUID, span: Window
) -> None:
    limit = settings.METERS_REQUEST_LIMIT
    pending = deque(span.split(timedelta(days=settings.METERS_WINDOW_DAYS)))
    while pending:
        window = pending.popleft()
        params = window.params(muid, limit)
        with open_location(url, session=session, params=params) as stream:
            response, tally = collector.read(stream, expected_muid=muid, window=window)
        if tally.outside_window:
            # The source ignores the window and sent all it has. A later response is then a
            # repeat of the first, which already held everything.
            if response == 0:
                collector.keep(tally)
            else:
                collector.discard(response)
            collector.report.note = "the source ignores the time window: read as one document"
            return
        collector.keep(tally)
        if tally.records >= limit and tally.first is not None:
            pending.extendleft(reversed(window.around(tally.first, tally.last)))


def _run(
    report: IngestReport,
    read: Callable[[_Collector], None],
    *,
    strict: bool,
    progress: Progress | None,
    passthrough: type[Exception] | tuple[()] = (),
) -> IngestReport:
    """Run `read` and the load in one transaction; any failure leaves the database as it was."""
    started = time.monotonic()
    try:
        with transaction.atomic():
            collector = _Collector(report, strict=strict, progress=progress)
            read(collector)
            collector.finish()
    except passthrough:
        raise
    except SourceError as error:
        report = IngestReport(report.source, error=str(error))
    except (DatabaseError, connection.Database.Error) as error:
        # The driver's own error class too: a COPY's errors reach here unwrapped by Django
        # (e.g. the server ending the connection mid-load, tests/meters/ingest/test_faults.py).
        report = IngestReport(report.source, error=f"database error: {one_line(error)}")
    report.seconds = time.monotonic() - started
    return report
