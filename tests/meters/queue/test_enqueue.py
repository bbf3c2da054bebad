"""Putting polls on the queue (claims, `ingest_meters --enqueue`) and what a task does with its
units, in this process: no worker needed."""

import io
import uuid
from datetime import timedelta

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from kombu import Connection

from meters.ingest import ingest
from meters.ingest.queue import LOCK_SPACE, failure_reason, poll_queued
from meters.ingest.read import DocumentSource
from meters.ingest.schedule import claim, claim_due, release
from meters.models import Reading, Unit
from meters.tasks import enqueue_due
from tests.conftest import CONSUMER, PRODUCER
from tests.meters.queue.conftest import BROKER, now

pytestmark = pytest.mark.django_db


def units(count: int, **fields) -> list[uuid.UUID]:
    made = [Unit(muid=uuid.uuid4(), poll_enabled=True, **fields) for _ in range(count)]
    Unit.objects.bulk_create(made)
    return sorted(unit.muid for unit in made)


def test_due_units_are_claimed_once():
    due = units(3)
    units(2, next_poll_at=now() + timedelta(hours=1))

    assert sorted(claim_due(now=now())) == due
    assert claim_due(now=now()) == []


def test_a_claim_older_than_the_lease_counts_as_lost(settings):
    settings.METERS_QUEUE_LEASE_MINUTES = 60
    (muid,) = units(1)
    claim_due(now=now() - timedelta(minutes=61))

    assert claim_due(now=now()) == [muid]


def test_claiming_named_units_skips_those_queued_already():
    first, second = units(2, next_poll_at=now() + timedelta(hours=1))
    claim([first], now=now())

    assert claim([first, second], now=now()) == [second]


def test_release_frees_a_claim_but_keeps_a_later_one():
    one, two = units(2)
    early = now() - timedelta(minutes=5)
    claim([one], now=early)
    claim([two], now=now())

    release([one, two], queued_at=early)

    assert set(Unit.objects.filter(queued_at=None).values_list("muid", flat=True)) == {one}


def test_a_unit_polled_since_it_was_queued_is_not_polled_again(challenge_source):
    call_command("register_units", stdout=io.StringIO())
    queued_at = now() - timedelta(minutes=1)
    Unit.objects.filter(muid=CONSUMER.muid).update(last_poll_at=now())

    outcome = poll_queued([CONSUMER.muid, PRODUCER.muid], queued_at=queued_at)

    assert outcome.stale == [CONSUMER.muid]
    assert list(outcome.reports) == [PRODUCER.muid]
    assert len(challenge_source.log) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the lock is PostgreSQL's")
def test_a_unit_locked_by_another_worker_is_left_to_it(challenge_source, transactional_db):
    call_command("register_units", stdout=io.StringIO())
    db = connection.settings_dict
    other = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or 5432
    )
    try:
        with other.cursor() as cursor:
            pk = Unit.objects.get(muid=CONSUMER.muid).pk
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_SPACE, pk])

        outcome = poll_queued([CONSUMER.muid, PRODUCER.muid], queued_at=now())
    finally:
        other.close()

    assert outcome.busy == [CONSUMER.muid]
    assert list(outcome.reports) == [PRODUCER.muid]
    assert Reading.objects.filter(channel__unit__muid=CONSUMER.muid).count() == 0


@pytest.mark.parametrize(
    ("path", "status", "body", "reason"),
    [
        ("/gone", 404, "", "http_status"),
        ("/not-json", 200, "<html>", "invalid_document"),
    ],
)
def test_a_failed_source_is_counted_under_a_short_reason(source, path, status, body, reason):
    source.expect_request(path).respond_with_data(body, status=status)

    (report,) = ingest([DocumentSource(source.url_for(path))])

    assert failure_reason(report.error) == reason


def test_an_unreachable_source_is_counted_as_unreachable(settings, db):
    settings.METERS_HTTP_RETRIES = 0

    (report,) = ingest([DocumentSource("http://127.0.0.1:9/feed.json")])

    assert failure_reason(report.error) == "unreachable"


def test_without_a_broker_enqueue_is_refused(settings):
    settings.CELERY_BROKER_URL = ""

    with pytest.raises(CommandError, match="--enqueue needs a broker: set CELERY_BROKER_URL"):
        call_command("ingest_meters", "--enqueue")


def test_enqueue_takes_no_option_of_a_poll_run_here(settings):
    settings.CELERY_BROKER_URL = BROKER

    with pytest.raises(CommandError, match="--strict, --fallback-dir cannot go with it"):
        call_command("ingest_meters", "--enqueue", "--strict", "--fallback-dir", "data")


def test_an_unreachable_broker_is_one_line_and_leaves_the_units_unclaimed(settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:9//"
    units(2)

    with pytest.raises(CommandError, match="cannot reach the broker"):
        call_command("ingest_meters", "--enqueue")

    assert not Unit.objects.filter(queued_at__isnull=False).exists()


def test_enqueue_sends_the_due_units_in_tasks_of_a_batch(broker_queue, settings):
    settings.METERS_QUEUE_BATCH = 4
    units(10)

    queued = enqueue_due()

    assert len(queued) == 10
    with Connection(BROKER) as broker:
        _, messages, _ = broker.default_channel.queue_declare(broker_queue, passive=True)
    assert messages == 3


def test_enqueue_of_named_units_says_which_were_queued_already(broker_queue, capsys):
    first, second = units(2, next_poll_at=now() + timedelta(hours=1))
    call_command("ingest_meters", "--enqueue", "--muid", str(first))

    call_command("ingest_meters", "--enqueue", "--muid", str(first), "--muid", str(second))

    assert capsys.readouterr().out.splitlines() == [
        "queued 1 unit(s)",
        "queued 1 unit(s), 1 queued already",
    ]
