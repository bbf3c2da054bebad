"""Reading a unit from the query API in time windows, as the live platform serves it."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from meters.ingest import ingest_unit
from meters.models import Reading
from meters.moments import format_utc
from tests.conftest import CONSUMER
from tests.factories import feed_series
from tests.meters.ingest.conftest import QueryApi

pytestmark = pytest.mark.django_db
PATH = f"/challenge/{CONSUMER.muid}.json"
START = datetime(2023, 3, 1, tzinfo=UTC)


@pytest.fixture
def api(source, settings):
    settings.METERS_WINDOW_DAYS = 1
    server = QueryApi(feed_series(CONSUMER.muid, START, 3 * 96))
    source.expect_request(PATH).respond_with_handler(server)
    return server


def test_it_reads_one_window_per_day_and_stores_everything(api):
    report = ingest_unit(CONSUMER.muid, start=START, stop=START + timedelta(days=3))

    assert report.ok, report.error
    assert report.inserted == 3 * 96
    assert [w[:2] for w in api.windows] == [
        ("2023-03-01T00:00:00Z", "2023-03-02T00:00:00Z"),
        ("2023-03-02T00:00:00Z", "2023-03-03T00:00:00Z"),
        ("2023-03-03T00:00:00Z", "2023-03-04T00:00:00Z"),
    ]
    assert report.note == ""


def test_a_response_cut_by_the_limit_is_completed_by_further_requests(api, settings):
    settings.METERS_REQUEST_LIMIT = 40

    report = ingest_unit(CONSUMER.muid, start=START, stop=START + timedelta(days=1))

    assert report.ok, report.error
    assert (report.inserted, report.rejected) == (96, 0)
    assert len(api.windows) > 3
    assert all(limit == 40 for _, _, limit in api.windows)


def test_a_second_run_continues_from_the_last_stored_reading(api):
    ingest_unit(CONSUMER.muid, start=START, stop=START + timedelta(days=2))
    api.windows.clear()

    report = ingest_unit(CONSUMER.muid, stop=START + timedelta(days=3))

    last_stored = START + timedelta(days=2) - timedelta(minutes=15)
    assert api.windows[0][0] == format_utc(last_stored)
    assert (report.inserted, report.unchanged) == (96, 1)
    assert Reading.objects.count() == 3 * 96


def test_a_unit_with_nothing_stored_starts_at_the_configured_history_start(api, settings):
    settings.METERS_HISTORY_START = "2023-03-02T00:00:00Z"

    report = ingest_unit(CONSUMER.muid, stop=START + timedelta(days=3))

    assert api.windows[0][0] == "2023-03-02T00:00:00Z"
    assert report.inserted == 2 * 96


def test_a_static_document_repeated_for_every_window_is_loaded_once(source, settings):
    settings.METERS_WINDOW_DAYS = 31
    body = json.dumps({"data": feed_series(CONSUMER.muid, START, 96)})
    source.expect_request(PATH).respond_with_data(body, content_type="application/json")

    # The whole document lies inside the first window; the second answer repeats it.
    report = ingest_unit(CONSUMER.muid, start=START, stop=START + timedelta(days=62))

    assert report.ok, report.error
    assert len(source.log) == 2
    assert (report.records, report.inserted, report.rejected) == (96, 96, 0)
    assert "ignores the time window" in report.note
