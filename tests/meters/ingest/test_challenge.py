"""Ingesting the two recorded challenge responses, served over HTTP on loopback."""

import json
from decimal import Decimal

import pytest

from meters.ingest import DocumentSource, ingest, ingest_unit
from meters.models import Channel, Reading, energy_sum
from tests.conftest import CHALLENGE_UNITS, CONSUMER, PRODUCER, challenge_records

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("unit", CHALLENGE_UNITS, ids=["consumer", "producer"])
def test_it_stores_every_reading_of_a_challenge_unit(challenge_source, unit):
    report = ingest_unit(unit.muid)

    assert report.ok, report.error
    assert (report.records, report.inserted, report.rejected) == (unit.readings, unit.readings, 0)
    assert report.units == [str(unit.muid)]
    assert report.obis_codes == [unit.obis]
    assert report.first.isoformat() == unit.first
    assert report.last.isoformat() == unit.last
    readings = Reading.objects.filter(channel__unit__muid=unit.muid, channel__obis=unit.obis)
    assert readings.count() == unit.readings
    assert readings.aggregate(total=energy_sum())["total"] == unit.total


def test_it_keeps_the_channel_span_and_count(challenge_source):
    ingest_unit(CONSUMER.muid)

    channel = Channel.objects.get(unit__muid=CONSUMER.muid)
    assert channel.first_reading_at.isoformat() == CONSUMER.first
    assert channel.last_reading_at.isoformat() == CONSUMER.last
    assert channel.reading_count == CONSUMER.readings
    assert channel.data_changed_at is not None


def test_it_stores_values_without_float_artefacts(challenge_source):
    raw = [r[PRODUCER.obis] for r in challenge_records(PRODUCER)]
    assert 0.17325000000000002 in raw  # the artefact the source really sends

    ingest_unit(PRODUCER.muid)

    values = set(Reading.objects.values_list("value", flat=True))
    assert Decimal("0.17325") in values
    assert all(value == value.quantize(Decimal("0.000001")) for value in values)


def test_it_sends_the_query_api_parameters(challenge_source):
    ingest_unit(CONSUMER.muid)

    request, _ = challenge_source.log[0]
    assert request.args["muid"] == str(CONSUMER.muid)
    assert request.args["measurement"] == "energy"
    assert request.args["limit"].isdigit()
    assert request.args["start"].endswith("Z")
    assert request.args["stop"].endswith("Z")


def test_a_static_document_is_read_once_not_per_window(challenge_source):
    report = ingest_unit(CONSUMER.muid)

    assert len(challenge_source.log) == 1
    assert "ignores the time window" in report.note


def test_a_second_run_changes_nothing(challenge_source):
    ingest_unit(CONSUMER.muid)
    before = list(Reading.objects.order_by("pk").values_list("channel_id", "timestamp", "value"))

    report = ingest_unit(CONSUMER.muid)

    assert report.ok
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, CONSUMER.readings)
    assert (
        list(Reading.objects.order_by("pk").values_list("channel_id", "timestamp", "value"))
        == before
    )


def test_a_value_changed_at_the_source_is_updated_and_counted(source):
    records = challenge_records(CONSUMER)
    serve = source.expect_request(f"/challenge/{CONSUMER.muid}.json")
    serve.respond_with_json({"data": records})
    ingest_unit(CONSUMER.muid)

    records[0][CONSUMER.obis] = 1.2345
    source.clear()
    source.expect_request(f"/challenge/{CONSUMER.muid}.json").respond_with_data(
        json.dumps({"data": records}), content_type="application/json"
    )
    report = ingest_unit(CONSUMER.muid)

    assert (report.inserted, report.updated, report.unchanged) == (0, 1, CONSUMER.readings - 1)
    newest = Reading.objects.filter(channel__unit__muid=CONSUMER.muid).latest("timestamp")
    assert newest.value == Decimal("1.2345")


def test_it_reports_progress_while_loading_a_large_source(db, monkeypatch):
    monkeypatch.setattr("meters.ingest.read.SEGMENT_READINGS", 1000)
    seen = []

    ingest([DocumentSource(str(CONSUMER.path))], progress=seen.append)

    assert seen == sorted(set(seen))
    assert seen[-1] == CONSUMER.readings
