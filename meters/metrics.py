"""Prometheus metrics (prometheus-client): what the workers did, and the state of the fleet.

Two sources, each scraped where it lives:
- the workers' counters (readings written, polls, sources failed by reason, poll duration,
  retries), served by each worker on WORKER_METRICS_PORT, a port of its own. A worker's pool
  processes each count in files under PROMETHEUS_MULTIPROC_DIR, summed when scraped
  (prometheus-client's multiprocess mode), so the directory must be set before the worker
  starts (deploy/entrypoint.sh does);
- the fleet's state, read from the database when /metrics is asked (any web replica answers
  the same): units polled, overdue, failing and queued, each unit's lag (the age of its newest
  reading), and the queue's depth and consumers as the broker tells them.
/metrics answers a Bearer METRICS_TOKEN or a staff user. docs/OPERATIONS.md has the alerts.
"""

import hmac
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from meters.ingest.pipeline import IngestReport
from meters.ingest.queue import QueuedPoll, failure_reason
from meters.ingest.schedule import failing_units, overdue_units
from meters.models import Channel, Unit

READINGS = Counter(
    "exnaton_ingest_readings",
    "Readings of polled units, by what the ingest did with them.",
    ["outcome"],
)
POLLS = Counter(
    "exnaton_ingest_polls",
    "Units a task dealt with: ok, failed, busy (another worker was polling it) or stale "
    "(polled since it was queued).",
    ["outcome"],
)
SOURCES_FAILED = Counter(
    "exnaton_ingest_sources_failed",
    "Polls that stored nothing, by reason.",
    ["reason"],
)
POLL_SECONDS = Histogram(
    "exnaton_ingest_poll_duration_seconds",
    "Seconds from a unit's first request to its readings committed (or its failure).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
RETRIES = Counter(
    "exnaton_ingest_retries",
    "Units whose source could not be read and that a task tries again after a while.",
)


def count_queued_poll(outcome: QueuedPoll, *, retried: int) -> None:
    """Count what one task did (on the worker that ran it)."""
    for report in outcome.reports.values():
        _count_report(report)
    POLLS.labels("busy").inc(len(outcome.busy))
    POLLS.labels("stale").inc(len(outcome.stale))
    RETRIES.inc(retried)


def _count_report(report: IngestReport) -> None:
    POLL_SECONDS.observe(report.seconds)
    if not report.ok:
        POLLS.labels("failed").inc()
        SOURCES_FAILED.labels(failure_reason(report.error or "")).inc()
        return
    POLLS.labels("ok").inc()
    for outcome in ("inserted", "updated", "unchanged", "rejected"):
        READINGS.labels(outcome).inc(getattr(report, outcome))


def serve_worker_metrics() -> None:
    """Serve this worker's counters on WORKER_METRICS_PORT (when set), summed over the
    processes of its pool."""
    port = settings.WORKER_METRICS_PORT
    if not port:
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise ImproperlyConfigured(
            "WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR, an empty writable directory "
            "set before the worker starts: its pool processes count there."
        )
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(port, registry=registry)


class FleetCollector(Collector):
    """The fleet's state, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        counts = {
            "exnaton_units_polled": (
                "Units registered for polling.",
                Unit.objects.filter(poll_enabled=True),
            ),
            "exnaton_units_overdue": (
                "Polled units due for more than METERS_OVERDUE_MINUTES.",
                overdue_units(now=now),
            ),
            "exnaton_units_failing": (
                "Units whose last poll failed.",
                failing_units(),
            ),
            "exnaton_units_queued": (
                "Units on the task queue or being polled by a worker.",
                Unit.objects.filter(queued_at__isnull=False),
            ),
        }
        for name, (documentation, units) in counts.items():
            yield GaugeMetricFamily(name, documentation, value=units.count())
        yield self._lag(now)
        yield from _queue_depth()

    def _lag(self, now: datetime) -> Metric:
        lag = GaugeMetricFamily(
            "exnaton_unit_lag_seconds",
            "Age of a polled unit's newest reading (units without readings are left out).",
            labels=["muid"],
        )
        newest = (
            Channel.objects.filter(unit__poll_enabled=True, last_reading_at__isnull=False)
            .values("unit__muid")
            .annotate(newest=Max("last_reading_at"))
            .values_list("unit__muid", "newest")
        )
        for muid, at in newest:
            lag.add_metric([str(muid)], (now - at).total_seconds())
        return lag


def _queue_depth() -> Iterator[Metric]:
    """Messages waiting in the poll queue and the workers consuming it, as the broker says;
    nothing without a broker."""
    if not settings.CELERY_BROKER_URL:
        return
    from kombu import Connection

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    up = GaugeMetricFamily("exnaton_queue_up", "1 if the broker answered.", labels=["queue"])
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=3) as broker:
            _, messages, consumers = broker.default_channel.queue_declare(queue, passive=True)
    except Exception:  # whatever the broker's failure, it is reported as down, not as a 500
        up.add_metric([queue], 0)
        yield up
        return
    up.add_metric([queue], 1)
    yield up
    depth = GaugeMetricFamily(
        "exnaton_queue_messages",
        "Messages ready in the queue (not yet given to a worker).",
        labels=["queue"],
    )
    depth.add_metric([queue], messages)
    yield depth
    workers = GaugeMetricFamily(
        "exnaton_queue_consumers", "Workers consuming the queue.", labels=["queue"]
    )
    workers.add_metric([queue], consumers)
    yield workers


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: the fleet's state in Prometheus' text format."""
    if not _may_scrape(request):
        response = HttpResponse("a Bearer token or a staff login is needed\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry()
    registry.register(FleetCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: HttpRequest) -> bool:
    if request.user.is_authenticated and request.user.is_staff:
        return True
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.METRICS_TOKEN
    return bool(expected) and scheme == "Bearer" and hmac.compare_digest(token, expected)
