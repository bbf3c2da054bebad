"""The poll registry: which units `ingest_meters` polls, and what each poll's outcome does to
the unit's state (meters/ingest/schedule.py)."""

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

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


def register_units(*args, stdin: str = "") -> str:
    out = io.StringIO()
    with mock.patch("sys.stdin", io.StringIO(stdin)):
        call_command("register_units", *args, stdout=out)
    return out.getvalue()


def test_register_units_adds_the_configured_units_once_and_respects_a_disabled_one(settings):
    first, second = uuid.uuid4(), uuid.uuid4()
    settings.METERS_DEFAULT_MUIDS = [str(first), str(second)]

    register_units()
    Unit.objects.filter(muid=first).update(poll_enabled=False)
    output = register_units()

    assert dict(Unit.objects.values_list("muid", "poll_enabled")) == {first: False, second: True}
    assert output == (
        "registered 0 unit(s) for polling; 2 stored already, kept as they are"
        " (1 of them not polled: tick 'polled' on the unit in the admin)\n"
    )


def test_register_units_refuses_a_muid_that_is_not_a_uuid():
    with pytest.raises(CommandError, match="argument: 'not-a-muid' is not a UUID"):
        call_command("register_units", "not-a-muid")


def test_a_fleet_is_registered_from_a_file_with_its_source_and_interval(tmp_path):
    muids = sorted(uuid.uuid4() for _ in range(12_000))  # more than one query's parameters
    path = tmp_path / "fleet.txt"
    path.write_text(
        "# the north-east feeders\n\n" + "".join(f"  {muid}  # feeder\n" for muid in muids)
    )

    output = register_units(
        "--file", str(path), "--source-url", "https://meters.example.com/api", "--interval", "60"
    )

    assert output == "registered 12000 unit(s) for polling\n"
    units = Unit.objects.order_by("muid")
    assert [unit.muid for unit in units] == muids
    assert {(unit.poll_enabled, unit.source_url, unit.poll_interval) for unit in units} == {
        (True, "https://meters.example.com/api", timedelta(hours=1))
    }


def test_muids_are_read_from_standard_input_beside_those_named(tmp_path):
    named, piped = uuid.uuid4(), uuid.uuid4()

    output = register_units(str(named), "--file", "-", stdin=f"{piped}\n")

    assert set(Unit.objects.values_list("muid", flat=True)) == {named, piped}
    assert output.startswith("registered 2 unit(s) for polling: ")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--file", "BAD"], r"line 3 of .*bad.txt: 'x-123' is not a UUID"),
        (["--file", "MISSING"], r"cannot read .*missing.txt: \[Errno 2\] No such file"),
        (["--file", "FLEET", "--source-url", "ftp//meters"], "--source-url: Enter a valid URL."),
        (["--file", "FLEET", "--interval", "0"], "--interval: .* greater than or equal to 0:01"),
        (["--file", "FLEET", "--interval", "soon"], "--interval: 'soon' is not a number of"),
        (["--file", "FLEET", "--interval", "nan"], "--interval: 'nan' is not a number of"),
    ],
    ids=["bad line", "missing file", "bad URL", "zero interval", "not a number", "nan"],
)
def test_a_bad_registration_is_refused_in_one_line_and_registers_nothing(tmp_path, args, error):
    paths = {"FLEET": tmp_path / "fleet.txt", "BAD": tmp_path / "bad.txt"}
    paths["FLEET"].write_text(f"{uuid.uuid4()}\n{uuid.uuid4()}\n")
    paths["BAD"].write_text(f"{uuid.uuid4()}\n{uuid.uuid4()}\nx-123\n")
    paths["MISSING"] = tmp_path / "missing.txt"

    with pytest.raises(CommandError, match=error):
        call_command("register_units", *[str(paths.get(arg, arg)) for arg in args])

    assert not Unit.objects.exists()


def test_a_unit_first_met_in_a_document_is_stored_but_not_polled(tmp_path):
    muid = uuid.uuid4()
    path = tmp_path / "feed.json"
    path.write_bytes(feed_document(feed_series(muid, START, 4)))

    call_command("ingest_meters", str(path), stdout=io.StringIO())

    assert Unit.objects.get(muid=muid).poll_enabled is False
