"""The poll registry's rules: which units are due, and what a poll's outcome does to a unit.

A registered unit (`Unit.poll_enabled`) is polled every `poll_interval` (default
METERS_POLL_INTERVAL_MINUTES). A failed poll is tried again after the interval, doubled with
each further failure up to METERS_POLL_MAX_BACKOFF_MINUTES, so that a source that is down is
not hammered while the rest of the fleet goes on.

With a task queue (meters/tasks.py), a unit put on the queue is claimed (`queued_at`) until a
task has dealt with it, so that enqueuing the due units again does not queue it twice.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from meters.models import Unit

# Rows read or changed by one query of `IN (...)`: far below any database's parameter limit.
ROWS_PER_QUERY = 5_000


def default_interval() -> timedelta:
    return timedelta(minutes=settings.METERS_POLL_INTERVAL_MINUTES)


def due_units(*, now: datetime, include_not_due: bool = False) -> QuerySet[Unit]:
    """The enabled units whose next poll is due at `now` (or all enabled ones), oldest first."""
    units = Unit.objects.filter(poll_enabled=True)
    if not include_not_due:
        units = units.filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
    return units.order_by(F("next_poll_at").asc(nulls_first=True), "muid")


def retry_delay(interval: timedelta, failures: int) -> timedelta:
    """How long after its `failures`-th failure in a row a unit is polled again."""
    ceiling = timedelta(minutes=settings.METERS_POLL_MAX_BACKOFF_MINUTES)
    return min(interval * 2 ** min(failures - 1, 20), max(ceiling, interval))


def record_successes(muids: Iterable[uuid.UUID], *, polled_at: datetime) -> None:
    """Units whose poll, begun at `polled_at`, stored its readings: due one interval later."""
    interval = Coalesce(F("poll_interval"), Value(default_interval()))
    Unit.objects.filter(muid__in=list(muids)).update(
        last_poll_at=polled_at,
        last_success_at=polled_at,
        last_error="",
        consecutive_failures=0,
        next_poll_at=ExpressionWrapper(Value(polled_at) + interval, output_field=DateTimeField()),
    )


def record_failure(muid: uuid.UUID, *, polled_at: datetime, error: str) -> None:
    """A failed poll: the reason kept, the next poll put off (see retry_delay)."""
    unit = Unit.objects.filter(muid=muid).first()
    if unit is None:  # a unit named on the command line that was never stored
        return
    unit.last_poll_at = polled_at
    unit.last_error = error
    unit.consecutive_failures += 1
    interval = unit.poll_interval or default_interval()
    unit.next_poll_at = polled_at + retry_delay(interval, unit.consecutive_failures)
    unit.save(update_fields=["last_poll_at", "last_error", "consecutive_failures", "next_poll_at"])


class Registration(NamedTuple):
    added: list[uuid.UUID]  # registered now
    kept: list[uuid.UUID]  # stored already, their registration left as it was
    not_polled: list[uuid.UUID]  # of those kept, the ones not enabled for polling


def register(
    muids: Iterable[uuid.UUID], *, source_url: str = "", poll_interval: timedelta | None = None
) -> Registration:
    """Register these units for polling, from `source_url` (blank: METERS_SOURCE_BASE_URL)
    every `poll_interval` (None: METERS_POLL_INTERVAL_MINUTES), where they are not stored yet.

    A stored unit keeps its registration as it is: an operator may have disabled it.
    """
    wanted = sorted(set(muids))
    polled: dict[uuid.UUID, bool] = {}
    for start in range(0, len(wanted), ROWS_PER_QUERY):
        chunk = wanted[start : start + ROWS_PER_QUERY]
        polled.update(Unit.objects.filter(muid__in=chunk).values_list("muid", "poll_enabled"))
    added = [muid for muid in wanted if muid not in polled]
    Unit.objects.bulk_create(
        [
            Unit(muid=muid, poll_enabled=True, source_url=source_url, poll_interval=poll_interval)
            for muid in added
        ],
        batch_size=ROWS_PER_QUERY,
    )
    kept = [muid for muid in wanted if muid in polled]
    return Registration(added, kept, [muid for muid in kept if not polled[muid]])


def overdue_units(*, now: datetime) -> QuerySet[Unit]:
    """The enabled units whose poll has been due for more than METERS_OVERDUE_MINUTES."""
    grace = timedelta(minutes=settings.METERS_OVERDUE_MINUTES)
    return Unit.objects.filter(poll_enabled=True, next_poll_at__lt=now - grace)


def failing_units() -> QuerySet[Unit]:
    """The units whose last poll failed (they are polled again after their backoff)."""
    return Unit.objects.filter(consecutive_failures__gt=0)


def claim_due(*, now: datetime, include_not_due: bool = False) -> list[uuid.UUID]:
    """Claim the due units (or all enabled ones) that are not queued already; returns them,
    oldest due first. See claim."""
    return _claim(due_units(now=now, include_not_due=include_not_due), now=now)


def claim(muids: Iterable[uuid.UUID], *, now: datetime) -> list[uuid.UUID]:
    """Mark these units queued at `now`, except those queued already; returns the ones marked.

    A claim older than METERS_QUEUE_LEASE_MINUTES counts as lost (its task never ran) and is
    taken again. Two enqueuers at once claim disjoint sets: on PostgreSQL the rows are locked
    while claimed (one enqueuer skips the other's), SQLite writes one transaction at a time.
    """
    return _claim(Unit.objects.filter(muid__in=list(muids)).order_by("muid"), now=now)


def _claim(units: QuerySet[Unit], *, now: datetime) -> list[uuid.UUID]:
    lease = timedelta(minutes=settings.METERS_QUEUE_LEASE_MINUTES)
    free = units.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - lease))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            free = free.select_for_update(skip_locked=True, of=("self",))
        rows = list(free.values_list("pk", "muid"))
        for start in range(0, len(rows), ROWS_PER_QUERY):
            chunk = [pk for pk, _ in rows[start : start + ROWS_PER_QUERY]]
            Unit.objects.filter(pk__in=chunk).update(queued_at=now)
    return [muid for _, muid in rows]


def release(muids: Iterable[uuid.UUID], *, queued_at: datetime) -> None:
    """A task has dealt with these units' claims of `queued_at` (or earlier): they may be
    queued again. A later claim stays: its own task will release it."""
    Unit.objects.filter(muid__in=list(muids), queued_at__lte=queued_at).update(queued_at=None)
