"""Polls of the fleet as Celery tasks (exnaton/celery.py), and putting them on the queue.

`enqueue_due` claims the due units (meters/ingest/schedule.py: a unit queued already is not
queued again) and sends them in tasks of METERS_QUEUE_BATCH units; beat runs it every
METERS_ENQUEUE_EVERY_SECONDS (`enqueue_due_units`), `ingest_meters --enqueue` on demand.
`poll_units` polls the units of one task on a worker (meters/ingest/queue.py). Delivery comes
from the settings: acknowledged after the task ran and given back when its worker dies, one
task fetched at a time, a time limit. A unit whose source cannot be reached is tried again by
the task after METERS_QUEUE_RETRY_SECONDS, doubled each time, METERS_QUEUE_RETRIES times; each
failed try is recorded on the unit (last_error, consecutive_failures), the other units of the
task are done at once.
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from celery import shared_task
from django.conf import settings

from meters import metrics
from meters.ingest import schedule
from meters.ingest.queue import poll_queued

logger = logging.getLogger(__name__)


def enqueue_due(*, include_not_due: bool = False) -> list[uuid.UUID]:
    """Queue the due units (all enabled ones with `include_not_due`) not queued already;
    returns those queued."""
    now = datetime.now(UTC)
    return _send(schedule.claim_due(now=now, include_not_due=include_not_due), queued_at=now)


def enqueue(muids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Queue these units, except those queued already; returns those queued."""
    now = datetime.now(UTC)
    return _send(schedule.claim(muids, now=now), queued_at=now)


def _send(muids: list[uuid.UUID], *, queued_at: datetime) -> list[uuid.UUID]:
    """One task per METERS_QUEUE_BATCH units, over one connection to the configured broker."""
    batch = settings.METERS_QUEUE_BATCH
    sent = 0
    app = poll_units.app
    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as broker:
            producer = app.amqp.Producer(broker)
            for sent in range(0, len(muids), batch):
                poll_units.apply_async(
                    args=[[str(m) for m in muids[sent : sent + batch]], queued_at.isoformat()],
                    queue=settings.CELERY_TASK_DEFAULT_QUEUE,
                    producer=producer,
                )
        sent = len(muids)
    finally:
        # What could not be sent is not queued: it may be claimed again at once.
        schedule.release(muids[sent:], queued_at=queued_at)
    return muids


@shared_task(bind=True, name="meters.tasks.poll_units")
def poll_units(self, muids: list[str], queued_at: str) -> dict[str, int]:
    """Poll these units, queued at `queued_at`; returns how many ended how."""
    units = [uuid.UUID(muid) for muid in muids]
    queued = datetime.fromisoformat(queued_at)
    retry: list[uuid.UUID] = []
    try:
        outcome = poll_queued(units, queued_at=queued)
        if self.request.retries < settings.METERS_QUEUE_RETRIES:
            retry = outcome.transient_failures()
        metrics.count_queued_poll(outcome, retried=len(retry))
    finally:
        # Units tried again stay queued: beat must not queue them beside their retry.
        schedule.release([muid for muid in units if muid not in retry], queued_at=queued)
    if retry:
        delay = settings.METERS_QUEUE_RETRY_SECONDS * 2**self.request.retries
        logger.info("%d unit(s) unreachable, trying again in %.0f s", len(retry), delay)
        # The retry is queued now: what it finds polled after this moment is stale.
        raise self.retry(
            args=[[str(m) for m in retry], datetime.now(UTC).isoformat()],
            countdown=delay,
            max_retries=settings.METERS_QUEUE_RETRIES,
        )
    failed = sum(not report.ok for report in outcome.reports.values())
    return {
        "ok": len(outcome.reports) - failed,
        "failed": failed,
        "busy": len(outcome.busy),
        "stale": len(outcome.stale),
    }


@shared_task(name="meters.tasks.enqueue_due_units")
def enqueue_due_units() -> int:
    """Beat's tick: queue the due units; returns how many."""
    return len(enqueue_due())
