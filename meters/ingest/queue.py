"""What a queued poll does on a worker: the units of one task, each polled by one worker at once.

A task names a few units and the moment they were queued (meters/tasks.py). Before polling,
the task takes each unit's lock; a unit another worker holds is being polled right now and is
left to it (`busy`), and a unit polled since it was queued, by an earlier delivery of the same
work, is not polled again (`stale`). The polls themselves are the fleet ingest's
(pipeline.ingest), so a task writes through the one write path, each source all or nothing.

The lock is PostgreSQL's session advisory lock on the unit's id: it is released when the task
ends, and also when its worker dies, because the database ends a dead client's session. SQLite
has no such lock; it is a file on one machine, writes one transaction at a time, and the
upsert makes a repeated poll harmless.
"""

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import Error as DatabaseError
from django.db import connection

from meters.ingest.pipeline import IngestReport, ingest, unit_sources
from meters.models import Unit

logger = logging.getLogger(__name__)

# The first key of the advisory locks this module takes (the second is the unit's id), so that
# they cannot meet another use of advisory locks in the same database.
LOCK_SPACE = 0x6578  # "ex"

# Why a source failed, from the first words of its report's error (meters/ingest/fetch.py,
# pipeline.py), as the metrics' `reason` label: a short fixed set. Anything else is the
# document's own fault (not JSON, no data, a rejected record with --strict).
FAILURE_REASONS = (
    ("cannot reach ", "unreachable"),
    ("HTTP error after ", "http_retries_exhausted"),
    ("HTTP ", "http_status"),
    ("read timed out", "timeout"),
    ("connection broken", "connection_broken"),
    ("request to ", "request_failed"),
    ("database error", "database"),
    ("unexpected error", "unexpected"),
    ("cannot read ", "file"),
)
OTHER_REASON = "invalid_document"
# Failures that may pass by themselves: the task tries these units again after a while.
TRANSIENT_REASONS = frozenset(
    {"unreachable", "http_retries_exhausted", "timeout", "connection_broken", "database"}
)


def failure_reason(error: str) -> str:
    for start, reason in FAILURE_REASONS:
        if error.startswith(start):
            return reason
    return OTHER_REASON


@dataclass
class QueuedPoll:
    """What became of the units of one task."""

    reports: dict[uuid.UUID, IngestReport] = field(default_factory=dict)
    busy: list[uuid.UUID] = field(default_factory=list)
    stale: list[uuid.UUID] = field(default_factory=list)

    def transient_failures(self) -> list[uuid.UUID]:
        return [
            muid
            for muid, report in self.reports.items()
            if not report.ok and failure_reason(report.error or "") in TRANSIENT_REASONS
        ]


def poll_queued(muids: Sequence[uuid.UUID], *, queued_at: datetime) -> QueuedPoll:
    """Poll the units queued at `queued_at` that no other worker is polling and that were not
    polled since; see the module's docstring."""
    outcome = QueuedPoll()
    with unit_locks(muids) as locked:
        outcome.busy = [muid for muid in muids if muid not in locked]
        polled_since = set(
            Unit.objects.filter(muid__in=locked, last_poll_at__gte=queued_at).values_list(
                "muid", flat=True
            )
        )
        outcome.stale = [muid for muid in locked if muid in polled_since]
        due = [muid for muid in locked if muid not in polled_since]
        if due:
            reports = ingest(unit_sources(due))
            outcome.reports = dict(zip(due, reports, strict=True))
    return outcome


@contextmanager
def unit_locks(muids: Sequence[uuid.UUID]) -> Iterator[list[uuid.UUID]]:
    """Take the lock of each unit that no one else holds, in the order given; yields those
    taken (every stored unit on SQLite) and releases them on the way out."""
    units = dict(Unit.objects.filter(muid__in=muids).values_list("muid", "pk"))
    if connection.vendor != "postgresql":
        yield [muid for muid in muids if muid in units]
        return
    ids = [units[muid] for muid in muids if muid in units]
    locked: set[int] = set()
    try:
        with connection.cursor() as cursor:
            # One statement for the batch: a try never waits, so no order can deadlock.
            cursor.execute(
                "SELECT id FROM unnest(%s::integer[]) AS id WHERE pg_try_advisory_lock(%s, id)",
                [ids, LOCK_SPACE],
            )
            locked = {row[0] for row in cursor.fetchall()}
        yield [muid for muid in muids if units.get(muid) in locked]
    finally:
        _unlock(sorted(locked))


def _unlock(ids: list[int]) -> None:
    if not ids:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, id) FROM unnest(%s::integer[]) AS id",
                [LOCK_SPACE, ids],
            )
    except DatabaseError as error:
        # The connection is gone, and the locks went with its session.
        logger.warning("releasing unit locks failed: %s", error)
