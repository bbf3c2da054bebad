"""A re-ingest writes only what differs from the stored readings: nothing for unchanged data
(the channels' data_changed_at and counts, the analysis cache's key, stay), the changed values
and the new readings otherwise, each counted; any difference, however small, is one."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meters.ingest import ingest_location
from meters.ingest import read as read_module
from meters.ingest.load import CHANGES
from meters.models import Channel, Reading
from tests.conftest import CONSUMER
from tests.factories import EXPORT, IMPORT, INTERVAL, feed_document, feed_record, feed_series

START = datetime(2023, 3, 1, tzinfo=UTC)
OTHER_MUID = "5f0e8c4a-1d2b-4c3d-8e9f-0a1b2c3d4e5f"
COUNT = 300


def two_channels() -> list[dict]:
    """Two units, one with two channels in one record each, newest first."""
    return [
        *feed_series(CONSUMER.muid, START, COUNT, value=0.25),
        *feed_series(OTHER_MUID, START, COUNT, value=1.5, obis=IMPORT),
        *feed_series(OTHER_MUID, START, COUNT, value=0.75, obis=EXPORT),
    ]


@pytest.fixture(autouse=True, params=["one segment", "segments of 7"])
def segments(request, monkeypatch):
    """Each test also with the document handed to the writer in many small segments."""
    if request.param == "segments of 7":
        monkeypatch.setattr(read_module, "SEGMENT_READINGS", 7)


@pytest.fixture
def load(tmp_path, db):
    """Ingest a list of records as one document."""

    def load(records: list[dict]):
        path = tmp_path / "feed.json"
        path.write_bytes(feed_document(records))
        report = ingest_location(str(path))
        assert report.ok, report.error
        return report

    return load


@pytest.fixture
def stored(load):
    """The two units stored, and what a later ingest must leave alone or change."""
    load(two_channels())
    return snapshot()


def snapshot() -> dict:
    return {
        "readings": list(
            Reading.objects.order_by("pk").values_list(
                "channel_id", "timestamp", "value", "quality", "measurement"
            )
        ),
        "channels": list(
            Channel.objects.order_by("id").values_list(
                "id", "first_reading_at", "last_reading_at", "reading_count", "data_changed_at"
            )
        ),
    }


def test_an_unchanged_reingest_writes_nothing_and_keeps_data_changed_at(stored, load):
    report = load(two_channels())

    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 3 * COUNT)
    assert snapshot() == stored


def test_an_unchanged_reingest_in_ascending_order_writes_nothing(stored, load):
    report = load(two_channels()[::-1])

    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 3 * COUNT)
    assert snapshot() == stored


def comparisons(load, records: list[dict]) -> int:
    """How many statements of an ingest of `records` compare staged rows with stored ones."""
    with CaptureQueriesContext(connection) as queries:
        load(records)
    return sum(query["sql"].startswith(f"INSERT INTO {CHANGES}") for query in queries)


def test_only_channels_with_stored_readings_in_their_span_are_compared(load):
    assert comparisons(load, two_channels()) == 0  # the first ingest: every channel is fresh
    assert comparisons(load, two_channels()) == 1


def test_an_unchanged_reingest_in_no_order_compares_every_reading(stored, load):
    """Timestamps that run both ways still bound each channel's span, so that every staged
    reading meets its stored one."""
    records = two_channels()
    random.Random(7).shuffle(records)
    records[0][next(key for key in records[0] if key in (EXPORT, IMPORT))] = 9.5

    report = load(records)

    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 3 * COUNT - 1)
    assert len(snapshot()["readings"]) == len(stored["readings"])


def test_a_document_repeating_part_of_the_stored_span_writes_nothing(stored, load):
    records = two_channels()
    part = records[:100] + records[COUNT : COUNT + 100] + records[2 * COUNT : 2 * COUNT + 100]

    report = load(part)

    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 300)
    assert snapshot() == stored


@pytest.mark.parametrize("newest_first", [True, False])
def test_a_document_spanning_a_stored_reading_updates_it_and_inserts_the_rest(load, newest_first):
    load(feed_series(CONSUMER.muid, START + 5 * INTERVAL, 1, value=0.25))
    records = feed_series(CONSUMER.muid, START, 11, value=0.5)

    report = load(records if newest_first else records[::-1])

    assert (report.inserted, report.updated, report.unchanged) == (10, 1, 0)
    assert sorted(Reading.objects.values_list("timestamp", "value")) == [
        (START + i * INTERVAL, Decimal("0.5")) for i in range(11)
    ]


def test_one_changed_value_updates_exactly_that_reading_and_is_counted(stored, load):
    records = two_channels()
    records[COUNT + 7][IMPORT] = 1.75

    report = load(records)

    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 3 * COUNT - 1)
    after = snapshot()
    changed = [row for row in after["readings"] if row not in stored["readings"]]
    assert [(str(row[2]), row[1]) for row in changed] == [
        ("1.750000", START + (COUNT - 8) * timedelta(minutes=15))
    ]
    channel = Channel.objects.get(unit__muid=OTHER_MUID, obis=IMPORT)
    assert channel.data_changed_at > {c[0]: c[4] for c in stored["channels"]}[channel.pk]


def test_an_extra_reading_is_inserted(stored, load):
    extra = feed_record(START + COUNT * timedelta(minutes=15), 0.5, muid=CONSUMER.muid)

    report = load([extra, *two_channels()])

    assert (report.inserted, report.updated, report.unchanged) == (1, 0, 3 * COUNT)
    channel = Channel.objects.get(unit__muid=CONSUMER.muid)
    assert channel.reading_count == COUNT + 1
    assert channel.last_reading_at == START + COUNT * timedelta(minutes=15)


def set_value(record: dict) -> None:
    record[IMPORT] = 0.250001  # the 6th decimal, the stored scale


def set_quality(record: dict) -> None:
    record["tags"]["quality"] = "estimated"


def set_measurement(record: dict) -> None:
    record["measurement"] = "power"


@pytest.mark.parametrize(
    ("change", "field", "stored_text"),
    [
        (set_value, "value", "0.250001"),
        (set_quality, "quality", "estimated"),
        (set_measurement, "measurement", "power"),
    ],
)
def test_any_difference_in_a_reading_is_updated(stored, load, change, field, stored_text):
    records = two_channels()
    change(records[COUNT - 1])  # the consumer's oldest reading

    report = load(records)

    assert (report.inserted, report.updated) == (0, 1)
    reading = Reading.objects.get(channel__unit__muid=CONSUMER.muid, timestamp=START)
    assert str(getattr(reading, field)) == stored_text


def test_a_reading_missing_from_the_source_is_kept_and_the_rest_counted_unchanged(stored, load):
    records = two_channels()
    del records[COUNT // 2]

    report = load(records)

    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 3 * COUNT - 1)
    assert snapshot() == stored


def test_a_timestamp_moved_by_a_second_is_a_new_reading(stored, load):
    records = two_channels()
    records[0]["timestamp"] = records[0]["timestamp"].replace(":00.000Z", ":01.000Z")

    report = load(records)

    assert (report.inserted, report.updated) == (1, 0)


def test_a_document_cut_short_changes_nothing_and_says_why(stored, tmp_path):
    records = two_channels()
    records[0][IMPORT] = 2.5  # read before the cut: a change that must not be stored
    document = feed_document(records)
    path = tmp_path / "cut.json"
    path.write_bytes(document[: len(document) * 3 // 4])

    report = ingest_location(str(path))

    assert report.error.startswith("truncated JSON")
    assert snapshot() == stored
