"""The poll registry's rules: which units are due, and what a poll's outcome does to a unit.

A registered unit (`Unit.poll_enabled`) is polled every `poll_interval` (default
METERS_POLL_INTERVAL_MINUTES). A failed poll is tried again after the interval, doubled with
each further failure up to METERS_POLL_MAX_BACKOFF_MINUTES, so that a source that is down is
not hammered while the rest of the fleet goes on.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from meters.models import Unit


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


def register(muids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """Register these units for polling where they are not stored yet; returns those added.

    A stored unit keeps its registration as it is: an operator may have disabled it.
    """
    wanted = set(muids)
    stored = set(Unit.objects.filter(muid__in=wanted).values_list("muid", flat=True))
    added = sorted(wanted - stored)
    Unit.objects.bulk_create([Unit(muid=muid, poll_enabled=True) for muid in added])
    return added
