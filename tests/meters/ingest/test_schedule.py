"""The poll registry: which units `ingest_meters` polls, and what each poll's outcome does to
the unit's state (meters/ingest/schedule.py)."""

import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from werkzeug import Request, Response

from meters.ingest.schedule import retry_delay
from meters.models import Reading, Unit
from tests.factories import feed_document, feed_series

pytestmark = pytest.mark.django_db
START = datetime(2023, 3, 1, tzinfo=UTC)


@pytest.fixture
def feeds(source, settings):
    """Serves a day of readings for any unit asked; `source.polled` lists the units polled."""
    settings.METERS_HISTORY_START = "2023-03-01T00:00:00Z"
    source.polled = []

    def serve(request: Request) -> Response:
        muid = request.path.rsplit("/", 1)[-1].removesuffix(".json")
        source.polled.append(muid)
        body = feed_document(feed_series(muid, START, 96))
        return Response(body, content_type="application/json")

    source.expect_request(re.compile(r"/challenge/[0-9a-f-]+\.json")).respond_with_handler(serve)
    return source


def registered(**fields) -> Unit:
    return Unit.objects.create(muid=uuid.uuid4(), poll_enabled=True, **fields)


def ingest(*args) -> str:
    out = io.StringIO()
    call_command("ingest_meters", *args, "--stop", "2023-03-02T00:00:00Z", stdout=out, stderr=out)
    return out.getvalue()


def test_only_enabled_units_that_are_due_are_polled(feeds):
    now = timezone.now()
    never_polled = registered()
    due = registered(next_poll_at=now - timedelta(minutes=1))
    registered(next_poll_at=now + timedelta(minutes=10))
    Unit.objects.create(muid=uuid.uuid4(), poll_enabled=False)

    ingest()

    assert sorted(feeds.polled) == sorted([str(never_polled.muid), str(due.muid)])


def test_all_polls_every_enabled_unit_due_or_not(feeds):
    later = registered(next_poll_at=timezone.now() + timedelta(hours=1))
    Unit.objects.create(muid=uuid.uuid4(), poll_enabled=False)

    ingest("--all")

    assert feeds.polled == [str(later.muid)]


def test_nothing_due_says_so(feeds):
    registered(next_poll_at=timezone.now() + timedelta(hours=1))

    assert ingest() == "no registered unit is due\n"
    assert feeds.polled == []


def test_a_successful_poll_records_when_and_schedules_the_next_one_interval_later(feeds):
    unit = registered(poll_interval=timedelta(hours=1), consecutive_failures=2, last_error="x")
    before = timezone.now()

    ingest()

    unit.refresh_from_db()
    assert before <= unit.last_poll_at == unit.last_success_at <= timezone.now()
    assert unit.next_poll_at == unit.last_poll_at + timedelta(hours=1)
    assert (unit.consecutive_failures, unit.last_error) == (0, "")
    assert Reading.objects.filter(channel__unit=unit).count() == 96


def test_a_unit_without_its_own_interval_is_polled_at_the_configured_one(feeds, settings):
    settings.METERS_POLL_INTERVAL_MINUTES = 30
    unit = registered()

    ingest()

    unit.refresh_from_db()
    assert unit.next_poll_at == unit.last_poll_at + timedelta(minutes=30)


def test_a_failed_poll_keeps_the_reason_and_backs_off(source, settings):
    settings.METERS_POLL_INTERVAL_MINUTES = 15
    unit = registered()
    source.expect_request(f"/challenge/{unit.muid}.json").respond_with_data("nope", status=404)

    for failures in (1, 2):
        with pytest.raises(CommandError, match="1 of 1 source"):
            ingest("--all")
        unit.refresh_from_db()
        assert unit.consecutive_failures == failures
        assert unit.last_error == "HTTP 404 NOT FOUND"
        assert unit.last_success_at is None
        delay = timedelta(minutes=15 * 2 ** (failures - 1))
        assert unit.next_poll_at == unit.last_poll_at + delay


def test_retry_delay_doubles_with_each_failure_up_to_the_ceiling(settings):
    settings.METERS_POLL_MAX_BACKOFF_MINUTES = 60
    interval = timedelta(minutes=15)

    delays = [retry_delay(interval, failures) for failures in range(1, 6)]

    assert delays == [timedelta(minutes=m) for m in (15, 30, 60, 60, 60)]
    assert retry_delay(timedelta(hours=2), 3) == timedelta(hours=2)  # never below the interval


def test_a_unit_is_read_from_its_own_source_url(feeds, httpserver, settings):
    settings.METERS_SOURCE_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    unit = registered(source_url=httpserver.url_for("/"))

    output = ingest()

    assert feeds.polled == [str(unit.muid)]
    assert "inserted=96" in output


def test_register_units_adds_the_configured_units_once_and_respects_a_disabled_one(settings):
    first, second = uuid.uuid4(), uuid.uuid4()
    settings.METERS_DEFAULT_MUIDS = [str(first), str(second)]
    out = io.StringIO()

    call_command("register_units", stdout=out)
    Unit.objects.filter(muid=first).update(poll_enabled=False)
    call_command("register_units", stdout=out)

    assert dict(Unit.objects.values_list("muid", "poll_enabled")) == {first: False, second: True}
    assert (
        out.getvalue().splitlines()[-1]
        == "registered 0 unit(s) for polling (all were stored already)"
    )


def test_register_units_refuses_a_muid_that_is_not_a_uuid():
    with pytest.raises(CommandError, match="not a UUID"):
        call_command("register_units", "not-a-muid")


def test_a_unit_first_met_in_a_document_is_stored_but_not_polled(tmp_path):
    muid = uuid.uuid4()
    path = tmp_path / "feed.json"
    path.write_bytes(feed_document(feed_series(muid, START, 4)))

    call_command("ingest_meters", str(path), stdout=io.StringIO())

    assert Unit.objects.get(muid=muid).poll_enabled is False
