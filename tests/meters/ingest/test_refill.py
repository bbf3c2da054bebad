"""A poll asks again for the recent days that have missing intervals (METERS_REFILL_DAYS), and
says what it asked for; history the unit never had is not asked for."""

from datetime import UTC, datetime, timedelta

import pytest

from meters.ingest import ingest_unit, unit_sources
from meters.ingest.pipeline import reading_step
from meters.ingest.read import Window
from meters.models import Reading
from meters.moments import format_utc
from tests.conftest import CONSUMER
from tests.factories import feed_record, feed_series
from tests.meters.ingest.conftest import QueryApi

pytestmark = pytest.mark.django_db
PATH = f"/challenge/{CONSUMER.muid}.json"
DAY = timedelta(days=1)


@pytest.fixture
def now():
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def api(source, settings, now):
    """Ten days of the consumer up to today, served as the query API serves them."""
    settings.METERS_REFILL_DAYS = 7
    server = QueryApi(feed_series(CONSUMER.muid, now - 10 * DAY, 10 * 96))
    source.expect_request(PATH).respond_with_handler(server)
    return server


def stored_count() -> int:
    return Reading.objects.filter(channel__unit__muid=CONSUMER.muid).count()


def test_a_gap_inside_recent_history_is_asked_for_again_and_filled(api, now):
    assert ingest_unit(CONSUMER.muid).ok
    gap = Reading.objects.filter(
        timestamp__gte=now - 4 * DAY + timedelta(hours=6),
        timestamp__lt=now - 4 * DAY + timedelta(hours=9),
    )
    assert gap.delete()[0] == 12
    api.windows.clear()

    report = ingest_unit(CONSUMER.muid)

    day = (format_utc(now - 4 * DAY), format_utc(now - 3 * DAY))
    assert (*day, 10_000) in api.windows
    assert report.inserted == 12
    assert stored_count() == 10 * 96
    assert report.note.startswith(
        f"asked again for 1 span(s) with missing intervals ({'/'.join(day)})"
    )


def test_complete_history_is_not_asked_for_again(api, now):
    assert ingest_unit(CONSUMER.muid).ok
    api.windows.clear()

    report = ingest_unit(CONSUMER.muid)

    assert len(api.windows) == 1  # from the last stored reading on
    assert report.note == ""


def test_days_before_the_first_reading_are_not_gaps(source, settings, now):
    settings.METERS_REFILL_DAYS = 7
    server = QueryApi(feed_series(CONSUMER.muid, now - 2 * DAY - timedelta(hours=5), 96))
    source.expect_request(PATH).respond_with_handler(server)
    settings.METERS_HISTORY_START = format_utc(now - 3 * DAY)
    assert ingest_unit(CONSUMER.muid).ok

    (poll,) = unit_sources([CONSUMER.muid])

    assert poll.refills == ()


def test_refill_can_be_turned_off(api, settings, now):
    assert ingest_unit(CONSUMER.muid).ok
    Reading.objects.filter(timestamp__lt=now - 5 * DAY, timestamp__gte=now - 6 * DAY).delete()
    settings.METERS_REFILL_DAYS = 0

    (poll,) = unit_sources([CONSUMER.muid])

    assert poll.refills == ()


def test_an_explicit_start_asks_for_its_range_only(api, now):
    assert ingest_unit(CONSUMER.muid).ok
    Reading.objects.filter(timestamp__lt=now - 5 * DAY, timestamp__gte=now - 6 * DAY).delete()

    (poll,) = unit_sources([CONSUMER.muid], start=now - 2 * DAY)

    assert poll.refills == ()
    assert poll.window == Window(now - 2 * DAY, poll.window.stop)


@pytest.fixture
def hourly_api(source, settings, now):
    """Ten days of a meter that reports every hour, up to today."""
    settings.METERS_REFILL_DAYS = 7
    hours = [now - 10 * DAY + timedelta(hours=i) for i in range(10 * 24)]
    server = QueryApi([feed_record(at, 0.5, muid=CONSUMER.muid) for at in reversed(hours)])
    source.expect_request(PATH).respond_with_handler(server)
    return server


def test_an_hourly_meter_with_complete_days_is_not_asked_again(hourly_api):
    assert ingest_unit(CONSUMER.muid).ok

    (poll,) = unit_sources([CONSUMER.muid])

    assert poll.refills == ()  # 24 readings make a whole day of an hourly meter


def test_a_gap_of_an_hourly_meter_is_asked_for_again(hourly_api, now):
    assert ingest_unit(CONSUMER.muid).ok
    Reading.objects.filter(timestamp=now - 3 * DAY + timedelta(hours=5)).delete()

    (poll,) = unit_sources([CONSUMER.muid])

    assert poll.refills == (Window(now - 3 * DAY, now - 2 * DAY),)


@pytest.mark.parametrize(
    ("most_in_a_day", "minutes"),
    [(96, 15), (95, 15), (50, 15), (48, 30), (24, 60), (23, 60), (288, 5), (1, 1440), (0, 15)],
)
def test_a_channel_s_interval_is_told_by_its_fullest_day(most_in_a_day, minutes):
    assert reading_step(most_in_a_day) == timedelta(minutes=minutes)
