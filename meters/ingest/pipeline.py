"""Ingest many sources at once: fetcher threads read and parse, this thread writes.

Up to `concurrency` sources are fetched and parsed at once, each on a fetcher thread with its
own HTTP session (meters/ingest/read.py): a poll mostly waits on the network, so many overlap.
The calling thread owns the database connection: it stages what the fetchers hand over (their
segments encoded for the staging table on their own threads, so that this one mostly waits on
the database) and writes complete sources in batches (meters/ingest/load.py), each batch one
transaction. A source that fails is left out and reported; a batch the database refuses is
written again one source at a time, so each source stays all or nothing. Reports come in the
order the sources were given.
"""

import heapq
import logging
import queue
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings

# Error, not DatabaseError: a closed connection raises InterfaceError, its sibling.
from django.db import Error as DatabaseError
from django.db import connection
from django.db.models import Count, Min
from django.db.models.functions import TruncDay

from meters.ingest import schedule
from meters.ingest.errors import one_line
from meters.ingest.fetch import http_session, unit_url
from meters.ingest.load import LoadCounts, Loader, Rows
from meters.ingest.read import (
    SHOWN_REJECTIONS,
    Discard,
    DocumentSource,
    Done,
    Message,
    Segment,
    Source,
    Tally,
    UnitSource,
    Window,
    read_source,
)
from meters.models import Channel, Reading, Unit
from meters.moments import format_utc
from meters.selectors import READING_INTERVAL

logger = logging.getLogger(__name__)

# The intervals meters report at, from a minute to a day (each divides a day).
METER_INTERVALS = tuple(timedelta(minutes=m) for m in (1, 5, 10, 15, 30, 60, 1440))
# A batch is written once its complete sources hold this many readings, or this many sources,
# or the first of them has waited this long (seconds): big enough that a fleet of small polls
# does not pay a transaction each, soon enough that a slow fleet still commits steadily.
FLUSH_READINGS = 100_000
FLUSH_SOURCES = 500
FLUSH_WAIT = 0.5
# Readings received are staged together, once this many wait or before a flush: each
# statement costs the writer a round trip and a wait for the interpreter's lock.
STAGE_READINGS = 50_000
# Segments that may wait for the writer (with one per fetcher more), encoded for COPY (~70
# bytes a reading): the parse goes on through a flush, and at most ~80 MB wait.
BUFFERED_SEGMENTS = 1024
# Responses parsed at once (see read.read_source); more only switch between threads.
PARSE_SLOTS = 2
# How often a fetcher blocked on a full queue looks whether the run was stopped (seconds).
POLL = 0.1

Progress = Callable[[int], None]
# What a fetcher hands to the writer: a message, its segments encoded (Loader.encode).
Handed = Rows | Discard | Done


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

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def readings(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def readings_per_second(self) -> float:
        return self.readings / self.seconds if self.seconds > 0 else 0.0


def ingest(
    sources: Sequence[Source],
    *,
    strict: bool = False,
    concurrency: int | None = None,
    progress: Progress | None = None,
    on_report: Callable[[IngestReport], None] | None = None,
) -> list[IngestReport]:
    """Ingest `sources`; returns one report per source, in their order.

    `on_report` is called with each report as soon as it and all before it are known;
    `progress` with the number of readings staged so far. A unit's poll updates its state in
    the registry (meters/ingest/schedule.py).
    """
    if not sources:
        return []
    run = _Run(
        sources,
        strict=strict,
        concurrency=concurrency or settings.METERS_INGEST_CONCURRENCY,
        progress=progress,
        on_report=on_report,
    )
    return run.run()


def ingest_location(location: str, *, strict: bool = False) -> IngestReport:
    """Ingest one document from a file path or an http(s) URL, fetched as given."""
    return ingest([DocumentSource(location)], strict=strict)[0]


def ingest_unit(
    muid: uuid.UUID,
    *,
    start: datetime | None = None,
    stop: datetime | None = None,
    strict: bool = False,
    fallback_dir: Path | None = None,
) -> IngestReport:
    """Poll one unit (see unit_sources)."""
    sources = unit_sources([muid], start=start, stop=stop, fallback_dir=fallback_dir)
    return ingest(sources, strict=strict)[0]


def unit_sources(
    muids: Sequence[uuid.UUID],
    *,
    start: datetime | None = None,
    stop: datetime | None = None,
    fallback_dir: Path | None = None,
) -> list[UnitSource]:
    """The polls of these units, in their order.

    Each reads from `start` (default: the unit's last stored reading, or METERS_HISTORY_START)
    to `stop` (default: now), from the unit's own source URL or the configured one. Without a
    `start`, a poll also asks again for the recent days that have missing intervals
    (refill_windows). With `fallback_dir`, a source that cannot be reached at all is replaced
    by the copy `<fallback_dir>/<muid>.json`.
    """
    now = datetime.now(UTC)
    stop = stop or now
    base_urls = dict(Unit.objects.filter(muid__in=muids).values_list("muid", "source_url"))
    resume = dict(
        Channel.objects.filter(unit__muid__in=muids)
        .values("unit__muid")
        .annotate(at=Min("last_reading_at"))
        .values_list("unit__muid", "at")
    )
    refills = refill_windows(resume, now=now) if start is None else {}
    history_start = datetime.fromisoformat(settings.METERS_HISTORY_START)
    return [
        UnitSource(
            muid=muid,
            url=unit_url(str(muid), base_url=base_urls.get(muid) or None),
            window=Window(start or resume.get(muid) or history_start, stop),
            refills=refills.get(muid, ()),
            fallback=fallback_dir,
        )
        for muid in muids
    ]


def refill_windows(
    resume: dict[uuid.UUID, datetime | None], *, now: datetime
) -> dict[uuid.UUID, tuple[Window, ...]]:
    """Per unit, the UTC days of the last METERS_REFILL_DAYS before its resume point on which
    a channel holds fewer readings than its intervals (one query for all units).

    A day counts only from the channel's first reading on, so a unit that started mid-week is
    not asked for days it never had. A channel's interval is told by its fullest day (see
    reading_step): an hourly meter's 24 readings make a whole day, not a day of gaps.
    """
    resume = {muid: at for muid, at in resume.items() if at is not None}
    if not resume or settings.METERS_REFILL_DAYS <= 0:
        return {}
    since = (now - timedelta(days=settings.METERS_REFILL_DAYS)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    counts = {
        (row["channel_id"], row["day"]): row["n"]
        for row in Reading.objects.filter(
            channel__unit__muid__in=list(resume), timestamp__gte=since
        )
        .annotate(day=TruncDay("timestamp", tzinfo=UTC))
        .values("channel_id", "day")
        .annotate(n=Count("pk"))
    }
    gaps: dict[uuid.UUID, list[Window]] = {}
    channels = Channel.objects.filter(unit__muid__in=list(resume), first_reading_at__isnull=False)
    fullest = Counter()
    for (channel_id, _), n in counts.items():
        fullest[channel_id] = max(fullest[channel_id], n)
    for muid, channel_id, first in channels.values_list("unit__muid", "pk", "first_reading_at"):
        start, stop = max(since, first), resume[muid]
        step = reading_step(fullest[channel_id])
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < stop:
            low, high = max(day, start), min(day + timedelta(days=1), stop)
            expected = -((low - high) // step)  # intervals starting in [low, high)
            if counts.get((channel_id, day), 0) < expected:
                gaps.setdefault(muid, []).append(Window(low, high))
            day += timedelta(days=1)
    return {muid: _merged(windows) for muid, windows in gaps.items()}


def reading_step(most_in_a_day: int) -> timedelta:
    """The interval of a channel whose fullest UTC day held `most_in_a_day` readings: the
    longest of the usual meter intervals that fits that many in a day (a day short of a reading
    or two still reads as its meter's interval); 15 minutes when nothing is known."""
    if most_in_a_day <= 0:
        return READING_INTERVAL
    fits = timedelta(days=1) / most_in_a_day
    return max((step for step in METER_INTERVALS if step <= fits), default=METER_INTERVALS[0])


def _merged(windows: list[Window]) -> tuple[Window, ...]:
    merged: list[Window] = []
    for window in sorted(windows, key=lambda w: (w.start, w.stop)):
        if merged and window.start <= merged[-1].stop:
            merged[-1] = Window(merged[-1].start, max(merged[-1].stop, window.stop))
        else:
            merged.append(window)
    return tuple(merged)


class _ParseTurns:
    """At most `slots` responses parsed at once, their sources served in the order given.

    In order, because a document read to the end is written only after the earlier ones still
    being read (see _Run._writable): one that overtook an earlier document would wait, staged.
    A slot freed is handed to the first source waiting, waking that fetcher alone.
    """

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiting: list[tuple[int, threading.Event]] = []  # a heap, by source
        self._lock = threading.Lock()

    def of(self, source: int) -> "_ParseTurn":
        return _ParseTurn(self, source)

    def acquire(self, source: int) -> None:
        with self._lock:
            if self._free:  # then nobody waits: a freed slot goes to a waiting source
                self._free -= 1
                return
            handed = threading.Event()
            heapq.heappush(self._waiting, (source, handed))
        handed.wait()

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                heapq.heappop(self._waiting)[1].set()
            else:
                self._free += 1


@dataclass(frozen=True)
class _ParseTurn:
    """The parse slot of one source, taken once per response."""

    turns: _ParseTurns
    source: int

    def __enter__(self) -> None:
        self.turns.acquire(self.source)

    def __exit__(self, *exc_info) -> None:
        self.turns.release()


class _Stopped(Exception):
    """The run ended while a fetcher still had something to hand over."""


class _Run:
    def __init__(
        self,
        sources: Sequence[Source],
        *,
        strict: bool,
        concurrency: int,
        progress: Progress | None,
        on_report: Callable[[IngestReport], None] | None,
    ) -> None:
        self._sources = list(sources)
        self._strict = strict
        self._progress = progress
        self._on_report = on_report
        self._threads = min(concurrency, len(self._sources))
        # Bounded: a fetcher waits while the writer is behind, so memory stays bounded.
        self._messages: queue.Queue[Handed] = queue.Queue(maxsize=self._threads + BUFFERED_SEGMENTS)
        self._pending = deque(enumerate(self._sources))
        self._stop = threading.Event()
        self._parse_turns = _ParseTurns(PARSE_SLOTS)
        self._started: list[float] = [0.0] * len(self._sources)
        self._polled_at: dict[int, datetime] = {}
        self._tallies: dict[int, Tally] = {}
        self._reports: list[IngestReport | None] = [None] * len(self._sources)
        self._shown = 0
        self._complete: list[int] = []  # read to the end, waiting to be written
        self._complete_since = 0.0
        self._done = 0  # sources whose fetcher has finished
        self._taken = 0  # sources the fetchers have taken, as far as this thread has seen
        self._unfinished: set[int] = set()  # of those, the ones without a Done yet
        self._staged = 0
        self._unstaged: list[Rows] = []  # received, not staged yet
        self._unstaged_readings = 0
        self._loader: Loader

    def run(self) -> list[IngestReport]:
        self._loader = Loader()
        fetchers = [
            threading.Thread(target=self._fetch, name=f"ingest-fetch-{n}", daemon=True)
            for n in range(self._threads)
        ]
        try:
            for fetcher in fetchers:
                fetcher.start()
            while self._shown < len(self._sources):
                due = self._flush_due()
                batch = self._writable() if due else []
                if batch:
                    self._flush(batch)
                else:
                    # Due but every complete source waits for one still being read: wait for
                    # that one, not for the clock.
                    self._handle(self._receive(wait=due))
        finally:
            self._stop.set()
            self._close_loader()
        return self._reports  # type: ignore[return-value]  # every one is set by now

    # --- fetcher threads ---------------------------------------------------------------------

    def _fetch(self) -> None:
        session = http_session()
        try:
            while not self._stop.is_set():
                try:
                    index, source = self._pending.popleft()
                except IndexError:
                    return
                self._started[index] = time.monotonic()
                self._polled_at[index] = datetime.now(UTC)
                try:
                    read_source(
                        index,
                        source,
                        session=session,
                        strict=self._strict,
                        emit=self._emit,
                        parse_slot=self._parse_turns.of(index),
                    )
                except _Stopped:
                    return
                except Exception as error:  # a bug: the source fails, the run goes on
                    logger.exception("reading %s failed", source.label)
                    reason = f"unexpected error: {type(error).__name__}: {one_line(error)}"
                    self._put(Done(index, Tally(error=reason)))
        except _Stopped:
            return
        finally:
            session.close()

    def _emit(self, message: Message) -> None:
        """Hand a message to the writer; a segment's readings are encoded here, on the
        fetcher's thread, so that the writer's thread mostly waits on the database."""
        if type(message) is Segment:
            message = self._loader.encode(message)
        elif type(message) is Discard and message.response is None:
            self._loader.restart(message.source)  # what follows is noted from scratch
        self._put(message)

    def _put(self, message: Handed) -> None:
        while not self._stop.is_set():
            try:
                self._messages.put(message, timeout=POLL)
                return
            except queue.Full:
                continue
        raise _Stopped

    # --- the writing thread ------------------------------------------------------------------

    def _receive(self, *, wait: bool = False) -> list[Handed]:
        """The next message (waiting at most until a batch is due, unless `wait`), and all
        that are ready."""
        timeout = None
        if self._complete and not wait:
            timeout = max(0.0, self._complete_since + FLUSH_WAIT - time.monotonic())
        try:
            messages = [self._messages.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(messages) < self._messages.maxsize:
            try:
                messages.append(self._messages.get_nowait())
            except queue.Empty:
                break
        return messages

    def _handle(self, messages: list[Handed]) -> None:
        for message in messages:
            if type(message) is Rows:
                self._unstaged.append(message)
                self._unstaged_readings += message.count
            elif type(message) is Discard:
                self._stage()  # what came before it, to be discarded with the rest
                self._database(self._loader.discard, message.source, message.response)
            elif type(message) is Done:
                self._finish_reading(message.source, message.tally)
        if self._unstaged_readings >= STAGE_READINGS:
            self._stage()

    def _stage(self) -> None:
        """Stage the readings received so far, in one statement."""
        encoded = [rows for rows in self._unstaged if self._reports[rows.source] is None]
        self._unstaged, self._unstaged_readings = [], 0
        if not encoded:
            return
        try:
            self._loader.stage(encoded)
        except (DatabaseError, connection.Database.Error) as error:
            for source in {rows.source for rows in encoded}:
                self._fail(source, f"database error: {one_line(error)}")
            return
        self._staged += sum(rows.count for rows in encoded)
        if self._progress:
            self._progress(self._staged)

    def _finish_reading(self, source: int, tally: Tally) -> None:
        self._done += 1
        self._reading().discard(source)
        if self._reports[source] is not None:  # failed while staging
            self._loader.forget(source)  # with what its fetcher noted after the failure
            return
        self._tallies[source] = tally
        if tally.error is not None:
            self._fail(source, tally.error)
            return
        if not self._complete:
            self._complete_since = time.monotonic()
        self._complete.append(source)

    def _flush_due(self) -> bool:
        if not self._complete:
            return False
        return (
            self._done == len(self._sources)
            or len(self._complete) >= FLUSH_SOURCES
            or sum(map(self._loader.staged_rows, self._complete)) >= FLUSH_READINGS
            or time.monotonic() >= self._complete_since + FLUSH_WAIT
        )

    def _writable(self) -> list[int]:
        """The complete sources that can be written now, in the order given.

        Sources are written as if one after the other: a source that may share a unit with
        an earlier one not yet written waits for it. Polls of two different units cannot
        share one; a document's units are known once it is read."""
        reading = self._reading()
        batch: list[int] = []
        waiting: list[int] = []
        units: set[uuid.UUID] = set()
        for source in sorted(self._complete):
            mine = self._loader.units(source)
            waits = (
                mine & units
                or any(mine & self._loader.units(earlier) for earlier in waiting)
                or any(self._may_share(earlier, source) for earlier in reading if earlier < source)
            )
            if waits:
                waiting.append(source)
            else:
                batch.append(source)
                units |= mine
        return batch

    def _reading(self) -> set[int]:
        """The sources a fetcher has taken and not finished (at most one per fetcher): the
        fetchers take sources in order, so these are the taken ones without a Done yet."""
        taken = len(self._sources) - len(self._pending)
        while self._taken < taken:
            self._unfinished.add(self._taken)
            self._taken += 1
        return self._unfinished

    def _may_share(self, earlier: int, source: int) -> bool:
        """Whether `earlier`, still being read, may hold a unit of `source`."""
        one, other = self._sources[earlier], self._sources[source]
        if isinstance(one, UnitSource) and isinstance(other, UnitSource):
            return one.muid == other.muid
        return True  # a document: its units are not known until it is read

    def _flush(self, batch: list[int]) -> None:
        """Write `batch`; a batch the database refuses is written again source by source."""
        self._complete = [source for source in self._complete if source not in batch]
        self._complete_since = time.monotonic()
        self._stage()
        try:
            results = self._loader.flush(
                batch, strict=self._strict, before_commit=self._record_successes
            )
        except (DatabaseError, connection.Database.Error) as error:
            if len(batch) > 1:
                for source in batch:
                    self._flush([source])
            else:
                self._fail(batch[0], f"database error: {one_line(error)}")
            return
        for source, result in results.items():
            if isinstance(result, str):
                self._fail(source, result, drop=False)
            else:
                self._report(source, self._written(source, result))

    def _record_successes(self, written: list[int]) -> None:
        """The units polled in this batch are due again one interval after the batch's first
        poll began (one statement for the batch; at most a batch's time early)."""
        polls = [source for source in written if isinstance(self._sources[source], UnitSource)]
        if polls:
            schedule.record_successes(
                [self._sources[source].muid for source in polls],
                polled_at=min(self._polled_at[source] for source in polls),
            )

    def _written(self, source: int, counts: LoadCounts) -> IngestReport:
        tally = self._tallies.pop(source)
        duplicates = [
            f"record {duplicate.record}: duplicate of record {duplicate.first_record} "
            "(same unit, OBIS code and timestamp)"
            for duplicate in counts.first_duplicates
        ]
        if counts.pruned:
            duplicates.append(
                f"{counts.pruned} reading(s) before {format_utc(counts.pruned_before)}, where "
                "readings were pruned (retention): not stored"
            )
        return IngestReport(
            source=tally.label or self._sources[source].label,
            note=tally.note,
            units=counts.units,
            obis_codes=counts.obis_codes,
            records=tally.records,
            inserted=counts.inserted,
            updated=counts.updated,
            unchanged=counts.unchanged,
            rejected=tally.rejected + counts.duplicates + counts.pruned,
            rejections=(tally.rejections + duplicates)[:SHOWN_REJECTIONS],
            first=tally.first,
            last=tally.last,
        )

    def _fail(self, source: int, error: str, *, drop: bool = True) -> None:
        if drop:
            self._database(self._loader.discard, source, None)
        if source not in self._reading():  # else when its fetcher is done (_finish_reading)
            self._loader.forget(source)
        given = self._sources[source]
        if isinstance(given, UnitSource):
            self._database(
                schedule.record_failure,
                given.muid,
                polled_at=self._polled_at.get(source, datetime.now(UTC)),
                error=error,
            )
        if source in self._complete:
            self._complete.remove(source)
        self._tallies.pop(source, None)
        self._report(source, IngestReport(given.label, error=error))

    def _report(self, source: int, report: IngestReport) -> None:
        report.seconds = time.monotonic() - self._started[source]
        self._reports[source] = report
        while self._shown < len(self._reports) and self._reports[self._shown] is not None:
            if self._on_report:
                self._on_report(self._reports[self._shown])
            self._shown += 1

    def _database(self, work: Callable, *args, **kwargs) -> None:
        """Book-keeping that must not end the run when the database is gone: the source's
        report already says what failed."""
        try:
            work(*args, **kwargs)
        except (DatabaseError, connection.Database.Error) as error:
            logger.warning("ingest book-keeping failed: %s", one_line(error))

    def _close_loader(self) -> None:
        self._database(self._loader.close)
