"""Polls on the task queue, run by real `celery worker` processes on the local RabbitMQ."""

import signal
import time
import uuid
from datetime import timedelta

from django.core.management import call_command
from django.db.models import Count

from meters.models import Reading, Unit
from meters.tasks import enqueue, enqueue_due, poll_units
from tests.meters.queue.conftest import (
    READINGS_PER_UNIT,
    WAIT,
    Fleet,
    Worker,
    needs_postgresql,
    now,
    wait_until,
)

pytestmark = needs_postgresql


def polled(count: int):
    """A condition: `count` units have been polled successfully, and are not queued any more."""

    def done() -> bool:
        return Unit.objects.filter(last_success_at__isnull=False, queued_at=None).count() == count

    return done


def assert_every_reading_once(units: int) -> None:
    per_channel = Reading.objects.values("channel_id").annotate(n=Count("pk"))
    assert sorted(row["n"] for row in per_channel) == [READINGS_PER_UNIT] * units
    repeated = Reading.objects.values("channel_id", "timestamp").annotate(n=Count("pk"))
    assert not repeated.filter(n__gt=1).exists()


def test_three_workers_poll_every_unit_of_the_fleet_once(fleet, settings):
    settings.METERS_QUEUE_BATCH = 5
    run = fleet(200)
    workers = [run.start_worker() for _ in range(3)]

    queued = enqueue_due()

    assert len(queued) == 200
    wait_until(polled(200), "200 units polled", fleet=run)
    assert_every_reading_once(200)
    assert set(run.feed.requests.values()) == {1}
    assert Reading.objects.count() == 200 * READINGS_PER_UNIT
    # Each worker took part, and their counters add up to what the database holds.
    per_worker = [w.counters()['exnaton_ingest_polls_total{outcome="ok"}'] for w in workers]
    assert all(count > 0 for count in per_worker), per_worker
    totals = run.totals()
    assert totals['exnaton_ingest_polls_total{outcome="ok"}'] == 200
    assert totals['exnaton_ingest_readings_total{outcome="inserted"}'] == 200 * READINGS_PER_UNIT
    assert totals["exnaton_ingest_poll_duration_seconds_count"] == 200
    assert run.queue_state() == (0, 3)


def caught_mid_poll(fleet) -> tuple[Fleet, Worker, uuid.UUID]:
    """One unit queued, its one worker half-way through its response."""
    run = fleet(1)
    (muid,) = run.feed.documents
    run.feed.held.add(muid)
    worker = run.start_worker()
    enqueue([muid])
    assert run.feed.half_sent.wait(WAIT), worker.output()
    return run, worker, muid


def test_a_worker_killed_in_the_middle_of_a_poll_leaves_it_to_another_worker(fleet):
    run, doomed, muid = caught_mid_poll(fleet)

    doomed.kill()
    assert Reading.objects.count() == 0  # nothing of the interrupted poll was stored
    survivor = run.start_worker()

    wait_until(polled(1), "the unit polled by the other worker", fleet=run)
    assert_every_reading_once(1)
    assert run.feed.requests[muid] == 2
    assert survivor.counters()['exnaton_ingest_polls_total{outcome="ok"}'] == 1
    assert run.queue_state() == (0, 1)


def test_sigterm_lets_the_worker_finish_its_poll_then_exit_cleanly(fleet):
    run, worker, muid = caught_mid_poll(fleet)

    worker.signal(signal.SIGTERM)
    time.sleep(1)
    assert worker.process.poll() is None  # still finishing its poll
    run.feed.release.set()

    assert worker.process.wait(WAIT) == 0, worker.output()
    assert "Warm shutdown" in worker.output()
    assert_every_reading_once(1)
    assert Unit.objects.get(muid=muid).queued_at is None
    messages, _ = run.queue_state()
    assert messages == 0  # acknowledged: not given back to be polled again


def test_a_source_that_is_down_is_retried_with_backoff_then_the_unit_is_failing(
    fleet, settings, staff_client
):
    settings.METERS_QUEUE_BATCH = 5
    run = fleet(20, METERS_QUEUE_RETRIES="2")
    down = Unit.objects.order_by("muid").first()
    down.source_url = "http://127.0.0.1:9"  # nothing listens: the unit's platform is down
    down.save()
    run.start_worker()
    run.start_worker()

    enqueue_due()

    wait_until(polled(19), "the 19 other units polled", fleet=run)
    healthy_done = time.monotonic()
    wait_until(
        lambda: Unit.objects.filter(
            muid=down.muid, consecutive_failures=3, queued_at=None
        ).exists(),
        "the down unit's retries to end",
        fleet=run,
    )
    retries_done = time.monotonic()
    down.refresh_from_db()
    assert down.last_error.startswith("cannot reach http://127.0.0.1:9/")
    assert down.last_success_at is None
    # Tried 3 times, 1 s then 2 s apart; the others were not held up by it.
    assert retries_done - healthy_done > 1
    assert down.next_poll_at > now() + timedelta(minutes=15)
    assert Reading.objects.count() == 19 * READINGS_PER_UNIT
    totals = run.totals()
    assert totals['exnaton_ingest_sources_failed_total{reason="unreachable"}'] == 3
    assert totals["exnaton_ingest_retries_total"] == 2
    assert totals['exnaton_ingest_polls_total{outcome="ok"}'] == 19

    fleet_state = staff_client.get("/metrics")
    assert fleet_state.status_code == 200
    text = fleet_state.content.decode()
    assert "exnaton_units_polled 20.0" in text
    assert "exnaton_units_failing 1.0" in text
    assert "exnaton_units_queued 0.0" in text
    assert text.count("exnaton_unit_lag_seconds{muid=") == 19
    assert f'exnaton_queue_messages{{queue="{run.queue}"}} 0.0' in text
    assert f'exnaton_queue_consumers{{queue="{run.queue}"}} 2.0' in text


def test_enqueuing_twice_in_a_row_queues_each_unit_once(fleet, capsys):
    run = fleet(30)

    call_command("ingest_meters", "--enqueue")
    call_command("ingest_meters", "--enqueue")

    assert capsys.readouterr().out.splitlines() == ["queued 30 unit(s)", "queued 0 unit(s)"]
    run.start_worker()
    run.start_worker()
    wait_until(polled(30), "30 units polled", fleet=run)
    assert set(run.feed.requests.values()) == {1}


def test_beat_enqueues_the_due_units_and_ticking_again_polls_none_twice(fleet):
    run = fleet(30, METERS_ENQUEUE_EVERY_SECONDS="1")
    run.start_worker()
    run.start_worker()

    run.start_beat()

    wait_until(polled(30), "30 units polled after beat's first tick", fleet=run)
    time.sleep(4)  # more ticks: the units are not due again for 15 minutes
    assert set(run.feed.requests.values()) == {1}
    assert run.totals()['exnaton_ingest_polls_total{outcome="ok"}'] == 30


def test_a_unit_sent_twice_is_polled_by_one_worker_while_the_other_leaves_it(fleet):
    run = fleet(1)
    (muid,) = run.feed.documents
    run.feed.held.add(muid)
    run.start_worker()
    run.start_worker()

    poll_units.delay([str(muid)], now().isoformat())
    assert run.feed.half_sent.wait(WAIT)
    poll_units.delay([str(muid)], now().isoformat())
    wait_until(
        lambda: run.totals().get('exnaton_ingest_polls_total{outcome="busy"}') == 1,
        "the second task to find the unit busy",
        fleet=run,
    )
    run.feed.release.set()

    wait_until(polled(1), "the unit polled", fleet=run)
    assert run.feed.requests[muid] == 1
    assert_every_reading_once(1)


def test_a_poll_past_the_time_limit_is_stopped_and_the_worker_goes_on(fleet):
    # A 4-second limit: the task is asked to stop after 1 s (its soft limit), killed after 4.
    run = fleet(2, CELERY_TASK_TIME_LIMIT="4")
    stuck, other = run.feed.documents
    run.feed.held.add(stuck)
    worker = run.start_worker()
    run.enqueue_command(stuck)
    assert run.feed.half_sent.wait(WAIT), worker.output()

    wait_until(
        lambda: not Unit.objects.filter(queued_at__isnull=False).exists(),
        "the stopped task to give up its unit",
        fleet=run,
    )
    run.enqueue_command(other)

    wait_until(polled(1), "the other unit polled by the same worker", fleet=run)
    assert "SoftTimeLimitExceeded" in worker.output()
    assert not Reading.objects.filter(channel__unit__muid=stuck).exists()
    assert Unit.objects.get(muid=stuck).last_success_at is None
    assert run.queue_state() == (0, 1)  # acknowledged as failed, not delivered again
    assert run.feed.requests[stuck] == 1
