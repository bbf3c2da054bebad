"""Read one source on a fetcher thread: fetch its documents, parse and validate them, and hand
the readings to the writer in segments. Nothing here touches the database.

A source is a document (a file path or a URL, read as given) or a unit's poll. A unit is read
from the metering platform's query API in time windows
(`?muid=..&measurement=energy&start=..&stop=..&limit=..`), so that no response is cut by
`limit`. A static copy of the API (such as the challenge files) ignores those parameters and
returns everything at once; the first response that holds readings outside its window shows
that, and the unit is then read from that one response.
"""

import uuid
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, NamedTuple

import requests
from django.conf import settings

from meters.ingest import fast
from meters.ingest.errors import SourceError, SourceUnreachable
from meters.ingest.fetch import open_location
from meters.ingest.parse import ParsedReading, Rejection
from meters.moments import format_utc

MEASUREMENT = "energy"
# Readings handed to the writer at once; with the writer's queue it bounds the memory a source
# of any size takes.
SEGMENT_READINGS = 1_000
# How many rejected records a report lists by index and reason (all are counted).
SHOWN_REJECTIONS = 5


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


@dataclass(frozen=True)
class DocumentSource:
    """One document, from a file path or an http(s) URL fetched as given."""

    location: str

    @property
    def label(self) -> str:
        return self.location


def document_sources(locations: list[str]) -> list[DocumentSource]:
    """A source per document: a URL or a file as given, and each `*.json` file of a directory,
    in name order. ValueError for a directory that holds none."""
    sources = []
    for location in locations:
        directory = Path(location)
        if "://" in location or not directory.is_dir():
            sources.append(DocumentSource(location))
            continue
        documents = sorted(path for path in directory.glob("*.json") if path.is_file())
        if not documents:
            raise ValueError(f"{location}: a directory without *.json documents")
        sources += [DocumentSource(str(path)) for path in documents]
    return sources


@dataclass(frozen=True)
class UnitSource:
    """A poll of one unit: `window` onward from its last stored reading, plus `refills`, the
    recent days that have missing intervals (see pipeline.refill_windows)."""

    muid: uuid.UUID
    url: str
    window: Window
    refills: tuple[Window, ...] = ()
    fallback: Path | None = None  # a copy read when the source cannot be reached at all

    @property
    def label(self) -> str:
        return self.url


Source = DocumentSource | UnitSource


@dataclass
class Tally:
    """What was read of a source, apart from what the database makes of it."""

    records: int = 0
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    note: str = ""
    label: str | None = None  # the location actually read, when not the source's own
    error: str | None = None

    def add(self, other: "Tally") -> None:
        self.records += other.records
        self.rejected += other.rejected
        self.rejections.extend(other.rejections[: SHOWN_REJECTIONS - len(self.rejections)])
        for moment in (other.first, other.last):
            if moment is not None:
                self.first = min(self.first or moment, moment)
                self.last = max(self.last or moment, moment)


# What a fetcher hands the writer, in order for each source.
class Segment(NamedTuple):
    source: int
    response: int
    readings: list[ParsedReading]


class Discard(NamedTuple):
    """Forget the readings of one response of the source (None: of every response so far)."""

    source: int
    response: int | None


class Done(NamedTuple):
    source: int
    tally: Tally


Message = Segment | Discard | Done
Emit = Callable[[Message], None]


def read_source(
    index: int,
    source: Source,
    *,
    session: requests.Session,
    strict: bool,
    emit: Emit,
    parse_slot: AbstractContextManager,
) -> None:
    """Read `source` (number `index` of the run) and emit its segments, then one Done.

    A response is parsed holding `parse_slot`: fetches wait on the network side by side, but
    parsing is Python and holds the interpreter's lock, so parsing many at once would only
    switch between threads."""
    reader = _Reader(index, strict=strict, session=session, emit=emit, parse_slot=parse_slot)
    try:
        if isinstance(source, UnitSource):
            reader.read_unit(source)
        else:
            reader.read_document(source.location)
        _check_not_all_rejected(reader.tally)
    except SourceError as error:
        reader.tally = Tally(error=str(error))
    emit(Done(index, reader.tally))


def _check_not_all_rejected(tally: Tally) -> None:
    """A source whose every record was rejected fails: it is broken, not merely noisy, and a
    schedule or a cron job must see it (a source with no records at all is fine)."""
    if tally.records and tally.rejected == tally.records:
        raise SourceError(
            f"all {tally.records} record(s) rejected, the first: {tally.rejections[0]}"
        )


class _Reader:
    def __init__(
        self,
        index: int,
        *,
        strict: bool,
        session: requests.Session,
        emit: Emit,
        parse_slot: AbstractContextManager,
    ) -> None:
        self._index = index
        self._parse_slot = parse_slot
        self._strict = strict
        self._session = session
        self._emit = emit
        self._responses = 0
        self.tally = Tally()

    def read_document(self, location: str) -> None:
        with open_location(location, session=self._session) as stream:
            self.tally.add(self._read(stream))

    def read_unit(self, source: UnitSource) -> None:
        try:
            self._read_windows(source)
        except SourceUnreachable as error:
            copy = source.fallback / f"{source.muid}.json" if source.fallback else None
            if copy is None or not copy.exists():
                raise
            self._emit(Discard(self._index, None))
            self.tally = Tally(label=str(copy))
            self.read_document(str(copy))
            self.tally.note = f"shipped copy, used because the source is unreachable: {error}"

    def _read_windows(self, source: UnitSource) -> None:
        limit = settings.METERS_REQUEST_LIMIT
        size = timedelta(days=settings.METERS_WINDOW_DAYS)
        pending = deque([*source.refills, *source.window.split(size)])
        refilled = 0
        while pending:
            window = pending.popleft()
            params = window.params(source.muid, limit)
            with open_location(source.url, session=self._session, params=params) as stream:
                tally = self._read(stream, expected_muid=source.muid, window=window)
            # Readings outside the window: the source ignores it and sent all it has, in its
            # first response (a later one is a repeat of it, left unread: see _read).
            outside = (
                tally is not None
                and tally.first is not None
                and not (window.contains(tally.first) and window.contains(tally.last))
            )
            if tally is None or outside:
                if tally is not None:
                    self.tally.add(tally)
                self.tally.note = "the source ignores the time window: read as one document"
                return
            self.tally.add(tally)
            if window in source.refills:
                refilled += tally.records
            if tally.records >= limit and tally.first is not None:
                pending.extendleft(reversed(window.around(tally.first, tally.last)))
        if source.refills:
            days = ", ".join(f"{format_utc(w.start)}/{format_utc(w.stop)}" for w in source.refills)
            self.tally.note = (
                f"asked again for {len(source.refills)} span(s) with missing intervals "
                f"({days}): {refilled} record(s) received"
            )

    def _read(
        self,
        stream: IO[bytes],
        *,
        expected_muid: uuid.UUID | None = None,
        window: Window | None = None,
    ) -> Tally | None:
        """Parse one response into segments; returns what was read of it.

        A response after the first of a unit that holds a reading outside its `window` is a
        repeat of the first: None, and nothing of it is kept."""
        response, offset = self._responses, self.tally.records
        self._responses += 1
        with self._parse_slot:
            return self._parse(stream, response, offset, expected_muid, window)

    def _parse(
        self,
        stream: IO[bytes],
        response: int,
        offset: int,
        expected_muid: uuid.UUID | None,
        window: Window | None,
    ) -> Tally | None:
        repeat_check = window if response > 0 else None
        emitted = False
        tally = Tally()
        segment: list[ParsedReading] = []
        first = last = None
        record = offset - 1
        items = fast.parse_readings(stream, expected_muid=expected_muid, first_record=offset)
        for item in items:
            record = item.record
            if type(item) is Rejection:
                if self._strict:
                    raise SourceError(f"record {item.record}: {item.reason} (--strict)")
                tally.rejected += 1
                if len(tally.rejections) < SHOWN_REJECTIONS:
                    tally.rejections.append(f"record {item.record}: {item.reason}")
                continue
            moment = item.timestamp
            if repeat_check is not None and not repeat_check.contains(moment):
                if emitted:
                    self._emit(Discard(self._index, response))
                return None
            if first is None or moment < first:
                first = moment
            if last is None or moment > last:
                last = moment
            segment.append(item)
            if len(segment) >= SEGMENT_READINGS:
                self._emit(Segment(self._index, response, segment))
                segment, emitted = [], True
        if segment:
            self._emit(Segment(self._index, response, segment))
        tally.records, tally.first, tally.last = record + 1 - offset, first, last
        return tally
