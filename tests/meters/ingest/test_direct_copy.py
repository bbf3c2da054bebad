"""A first load is copied straight into the readings table (PostgreSQL), with no staging pass;
anything that could collide with a stored reading or repeat one of the source is staged and
upserted as before, read again from the local copy of the document, not fetched again."""

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction

from meters.ingest import ingest_location, ingest_unit
from meters.models import Channel, Reading, Unit, energy_sum
from tests.conftest import CONSUMER, challenge_records
from tests.factories import feed_document, feed_record, feed_series
from tests.meters.ingest.conftest import WAIT, PausingSource, wait_for_copy

PATH = f"/challenge/{CONSUMER.muid}.json"
START = datetime(2023, 3, 1, tzinfo=UTC)
OTHER_MUID = "5f0e8c4a-1d2b-4c3d-8e9f-0a1b2c3d4e5f"

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the direct COPY is PostgreSQL's"
)


def serve(source, body: bytes) -> None:
    source.clear()
    source.expect_request(PATH).respond_with_data(body, content_type="application/json")


@pytest.fixture
def staging_log(caplog):
    """The loader's reasons for staging a document instead of copying it."""
    caplog.set_level(logging.INFO, logger="meters.ingest.load")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "meters.ingest.load"]


@postgres_only
def test_a_first_load_is_copied_straight_and_stores_exactly_the_source(
    challenge_source, db, staging_log
):
    report = ingest_unit(CONSUMER.muid)

    assert report.ok, report.error
    assert report.copied == report.inserted == CONSUMER.readings
    assert staging_log() == []
    readings = Reading.objects.filter(channel__unit__muid=CONSUMER.muid)
    assert readings.count() == CONSUMER.readings
    assert readings.aggregate(total=energy_sum())["total"] == CONSUMER.total
    channel = Channel.objects.get(unit__muid=CONSUMER.muid)
    assert channel.reading_count == CONSUMER.readings
    assert channel.first_reading_at.isoformat() == CONSUMER.first
    assert channel.last_reading_at.isoformat() == CONSUMER.last
    assert channel.data_changed_at is not None


def test_on_sqlite_every_load_is_staged(challenge_source, db):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's path")

    report = ingest_unit(CONSUMER.muid)

    assert (report.copied, report.inserted) == (0, CONSUMER.readings)


@postgres_only
def test_a_load_onto_stored_readings_is_staged_and_upserted(source, db, staging_log):
    records = challenge_records(CONSUMER)
    serve(source, json.dumps({"data": records}).encode())
    ingest_unit(CONSUMER.muid)
    records[0][CONSUMER.obis] = 1.2345
    serve(source, json.dumps({"data": records}).encode())

    report = ingest_unit(CONSUMER.muid)

    assert (report.copied, report.inserted, report.updated) == (0, 0, 1)
    assert report.unchanged == CONSUMER.readings - 1
    assert staging_log() == [
        f"staging the document instead of copying it: unit {CONSUMER.muid}, "
        f"{CONSUMER.obis} has stored readings"
    ]


@postgres_only
def test_a_late_duplicate_inside_the_source_is_staged_from_the_local_copy(source, db, staging_log):
    # Large enough that the copy, not the parser's look-ahead, holds the start of the document.
    records = feed_series(CONSUMER.muid, START, 3000)
    repeat = feed_record(START, 0.5, muid=CONSUMER.muid)
    serve(source, feed_document([*records, repeat]))

    report = ingest_unit(CONSUMER.muid)

    assert report.ok, report.error
    assert (report.copied, report.records, report.inserted, report.rejected) == (0, 3001, 3000, 1)
    assert report.rejections == [
        "record 3000: duplicate of record 2999 (same unit, OBIS code and timestamp)"
    ]
    assert Reading.objects.count() == 3000
    assert Reading.objects.get(timestamp=START).value == Decimal("0.01")
    assert len(source.log) == 1  # read again from the copy, not fetched again
    assert staging_log() == [
        "staging the document instead of copying it: "
        f"{CONSUMER.obis} timestamps do not run one way (record 3000)"
    ]


@postgres_only
def test_a_duplicate_is_caught_across_interleaved_channels_before_it_is_sent(
    tmp_path, db, staging_log
):
    later, earlier = START + timedelta(minutes=15), START
    records = [
        feed_record(later, 0.1, muid=CONSUMER.muid),
        feed_record(later, 0.2, muid=OTHER_MUID),
        feed_record(earlier, 0.3, muid=CONSUMER.muid),
        feed_record(earlier, 0.4, muid=OTHER_MUID),
        feed_record(later, 0.5, muid=CONSUMER.muid),
    ]
    path = tmp_path / "interleaved.json"
    path.write_bytes(feed_document(records))

    report = ingest_location(str(path))

    assert (report.copied, report.inserted, report.rejected) == (0, 4, 1)
    assert report.rejections == [
        "record 4: duplicate of record 0 (same unit, OBIS code and timestamp)"
    ]
    assert staging_log() == [
        "staging the document instead of copying it: "
        f"{CONSUMER.obis} timestamps do not run one way (record 4)"
    ]


@postgres_only
def test_a_stored_channel_met_after_a_new_one_stages_the_whole_document(
    tmp_path, stored, staging_log
):
    new = feed_series(OTHER_MUID, START, 500)
    path = tmp_path / "two-units.json"
    path.write_bytes(feed_document([*new, *challenge_records(CONSUMER)]))

    report = ingest_location(str(path))

    assert report.ok, report.error
    assert (report.copied, report.inserted, report.updated) == (0, 500, 0)
    assert report.unchanged == CONSUMER.readings
    assert Unit.objects.count() == 2
    assert Channel.objects.get(unit__muid=OTHER_MUID).reading_count == 500
    assert staging_log()[-1].endswith(f"unit {CONSUMER.muid}, {CONSUMER.obis} has stored readings")


@postgres_only
def test_a_reading_stored_by_another_writer_mid_copy_stages_the_document(
    settings, transactional_db, staging_log
):
    # A channel with nothing stored: the ingest starts copying straight into the table.
    channel = Channel.objects.create(
        unit=Unit.objects.create(muid=CONSUMER.muid), obis=CONSUMER.obis
    )
    oldest = datetime.fromisoformat(CONSUMER.first)  # the last record of the body
    reports = []

    def ingest() -> None:
        try:
            reports.append(ingest_unit(CONSUMER.muid))
        finally:
            connection.close()

    with PausingSource() as source:
        settings.METERS_SOURCE_BASE_URL = source.url
        settings.METERS_SOURCE_PATH = "/challenge/{muid}.json"
        thread = threading.Thread(target=ingest)
        thread.start()
        assert source.half_sent.wait(WAIT)
        wait_for_copy()
        # A writer that does not take the unit's lock stores a reading the body still holds.
        Reading.objects.create(
            channel=channel, timestamp=oldest, value=9, quality="manual", measurement="energy"
        )
        source.resume.set()
        thread.join(WAIT)

    (report,) = reports
    assert report.ok, report.error
    assert (report.copied, report.inserted, report.updated) == (0, CONSUMER.readings - 1, 1)
    assert Reading.objects.count() == CONSUMER.readings
    assert Reading.objects.get(timestamp=oldest).quality == "measured"
    assert staging_log()[0].startswith(
        "staging the document instead of copying it: duplicate key value violates unique constraint"
    )


@postgres_only
def test_a_unit_another_transaction_holds_is_staged_and_loads_once_it_is_released(
    challenge_source, transactional_db, staging_log
):
    unit = Unit.objects.create(muid=CONSUMER.muid)
    locked = threading.Event()

    def hold_the_unit() -> None:
        try:
            with transaction.atomic():
                Unit.objects.select_for_update().get(pk=unit.pk)
                locked.set()
                # Held until the ingest has given up the direct COPY; it then waits in finish.
                for _ in range(WAIT * 10):
                    if staging_log():
                        break
                    time.sleep(0.1)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_unit)
    holder.start()
    assert locked.wait(WAIT)
    report = ingest_unit(CONSUMER.muid)
    holder.join(WAIT)

    assert report.ok, report.error
    assert (report.copied, report.inserted) == (0, CONSUMER.readings)
    assert staging_log() == [
        f"staging the document instead of copying it: unit {CONSUMER.muid} is held by another "
        "ingest"
    ]
