"""Every kind of bad input gets a clear outcome, and nothing already stored is lost. A test of a
document's content runs through the parse's accelerator and through the reference stream parse
(`parse_path`)."""

import json
import re
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from werkzeug import Response

from meters.ingest import ingest_location, ingest_unit
from meters.models import Reading, Unit
from tests.conftest import CONSUMER, challenge_records
from tests.factories import EXPORT, feed_document, feed_record, feed_series

pytestmark = pytest.mark.django_db
PATH = f"/challenge/{CONSUMER.muid}.json"
START = datetime(2023, 3, 1, tzinfo=UTC)


def serve(source, body, status=200):
    source.expect_request(PATH).respond_with_data(
        body, status=status, content_type="application/json"
    )


def test_a_body_that_is_not_json_fails_the_source(parse_path, source, stored):
    serve(source, b"<html>Service unavailable</html>")

    report = ingest_unit(CONSUMER.muid)

    assert not report.ok
    assert report.error.startswith("invalid JSON")
    assert "\n" not in report.error
    assert stored()


def test_a_body_in_broken_utf16_fails_the_source_with_the_reason(parse_path, source, stored):
    # A byte-order mark says UTF-16; an odd byte at the end cannot be a character of it.
    serve(source, CONSUMER.body.decode().encode("utf-16") + b"}")

    report = ingest_unit(CONSUMER.muid)

    assert report.error.startswith("not valid UTF-16: ")
    assert "\n" not in report.error
    assert stored()


def test_a_body_in_utf16_loads_as_in_utf8(parse_path, source, db):
    serve(source, CONSUMER.body.decode().encode("utf-16"))

    report = ingest_unit(CONSUMER.muid)

    assert report.ok, report.error
    assert report.inserted == CONSUMER.readings


def test_a_truncated_body_fails_the_source_after_partial_loading(
    parse_path, source, stored, monkeypatch
):
    # Segments of 100 readings reach the database before the cut.
    monkeypatch.setattr("meters.ingest.read.SEGMENT_READINGS", 100)
    body = feed_document(feed_series(CONSUMER.muid, START, 1000))
    serve(source, body[: body.index(b"}, ", len(body) // 2) + 3])

    report = ingest_unit(CONSUMER.muid)

    assert report.error.startswith("truncated JSON")
    assert stored()
    assert not Reading.objects.filter(timestamp__gte=START).exists()


def test_a_connection_closed_mid_body_fails_the_source(settings, cut_connection_server, stored):
    settings.METERS_SOURCE_BASE_URL = cut_connection_server

    report = ingest_unit(CONSUMER.muid)

    assert report.error.startswith("connection broken while reading")
    assert stored()


def test_server_errors_are_retried_until_the_source_answers(source, db):
    source.expect_oneshot_request(PATH).respond_with_data("busy", status=500)
    source.expect_oneshot_request(PATH).respond_with_data("busy", status=503)
    serve(source, CONSUMER.body)

    report = ingest_unit(CONSUMER.muid)

    assert report.ok, report.error
    assert report.inserted == CONSUMER.readings
    assert len(source.log) == 3


def test_too_many_requests_is_retried(source, db):
    source.expect_oneshot_request(PATH).respond_with_data("slow down", status=429)
    serve(source, CONSUMER.body)

    report = ingest_unit(CONSUMER.muid)

    assert report.ok, report.error
    assert len(source.log) == 2


def test_a_source_that_keeps_failing_gives_up_after_the_retries(source, stored, settings):
    serve(source, b"down", status=500)

    report = ingest_unit(CONSUMER.muid)

    assert (
        report.error
        == f"HTTP error after {settings.METERS_HTTP_RETRIES} retries: too many 500 error responses"
    )
    assert len(source.log) == settings.METERS_HTTP_RETRIES + 1
    assert stored()


def test_not_found_fails_at_once_without_retrying(source, stored):
    serve(source, b"no such unit", status=404)

    report = ingest_unit(CONSUMER.muid)

    assert report.error == "HTTP 404 NOT FOUND"
    assert len(source.log) == 1
    assert stored()


def test_a_source_slower_than_the_read_timeout_fails(source, settings, stored):
    settings.METERS_HTTP_READ_TIMEOUT = 0.2
    settings.METERS_HTTP_RETRIES = 0

    def slow(request):
        time.sleep(0.6)
        return Response(CONSUMER.body, content_type="application/json")

    source.expect_request(PATH).respond_with_handler(slow)

    report = ingest_unit(CONSUMER.muid)

    assert not report.ok
    assert "timed out" in report.error
    assert stored()


def test_an_unreachable_host_fails_with_the_reason(settings, stored):
    settings.METERS_SOURCE_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.METERS_HTTP_RETRIES = 0

    report = ingest_unit(CONSUMER.muid)

    assert report.error.startswith("cannot reach http://127.0.0.1:9/challenge/")
    assert "refused" in report.error
    assert stored()


BAD_RECORDS = {
    "bad timestamp": (
        lambda r: r | {"timestamp": "2023-02-30T00:00:00Z"},
        "timestamp '2023-02-30T00:00:00Z' is not ISO 8601",
    ),
    "timestamp without zone": (
        lambda r: r | {"timestamp": "2023-02-01T00:00:00"},
        "has no time zone",
    ),
    "missing timestamp": (
        lambda r: {k: v for k, v in r.items() if k != "timestamp"},
        "missing 'timestamp'",
    ),
    "NaN as text": (lambda r: r | {CONSUMER.obis: "NaN"}, "is not a number: 'NaN'"),
    "string value": (lambda r: r | {CONSUMER.obis: "0.5"}, "is not a number: '0.5'"),
    "boolean value": (lambda r: r | {CONSUMER.obis: True}, "is not a number: True"),
    "huge value": (lambda r: r | {CONSUMER.obis: 1e12}, "is out of range"),
    "no value": (lambda r: r | {CONSUMER.obis: None}, "no OBIS-code key with a value"),
    "foreign muid": (
        lambda r: r | {"tags": {"muid": str(uuid.uuid4()), "quality": "measured"}},
        "is not the requested unit",
    ),
    "muid not a UUID": (
        lambda r: r | {"tags": {"muid": "meter-7", "quality": "measured"}},
        "muid 'meter-7' is not a UUID",
    ),
    "missing tags": (lambda r: {k: v for k, v in r.items() if k != "tags"}, "missing 'tags'"),
    "missing measurement": (
        lambda r: {k: v for k, v in r.items() if k != "measurement"},
        "missing 'measurement'",
    ),
    "not an object": (lambda r: [r], "record is not an object"),
    "offset past year 9999": (
        lambda r: r | {"timestamp": "9999-12-31T23:00:00-14:00"},
        "lies outside [1970-01-01T00:00:00Z, 2200-01-01T00:00:00Z)",
    ),
    "offset before year 1": (
        lambda r: r | {"timestamp": "0001-01-01T00:00:00+14:00"},
        "lies outside [1970-01-01T00:00:00Z, 2200-01-01T00:00:00Z)",
    ),
    "year 9999": (lambda r: r | {"timestamp": "9999-12-31T23:45:00Z"}, "lies outside"),
    "before 1970": (lambda r: r | {"timestamp": "1969-12-31T23:45:00Z"}, "lies outside"),
    "quality as an object": (
        lambda r: r | {"tags": r["tags"] | {"quality": {"ok": True}}},
        "tags.quality {'ok': True} is not a short word",
    ),
    "measurement as a list": (
        lambda r: r | {"measurement": ["energy"]},
        "measurement ['energy'] is not a short word",
    ),
    "quality with a trailing newline": (
        lambda r: r | {"tags": r["tags"] | {"quality": "ok\n"}},
        "tags.quality 'ok\\n' is not a short word",
    ),
    "OBIS key with a trailing newline": (
        lambda r: {k: v for k, v in r.items() if k != CONSUMER.obis} | {CONSUMER.obis + "\n": 1},
        "no OBIS-code key with a value",
    ),
    "one OBIS code twice": (
        lambda r: r | {CONSUMER.obis.lower(): 0.5},
        f"OBIS code {CONSUMER.obis} appears twice in the record",
    ),
    "one OBIS code as hex and readable": (
        lambda r: r | {"1-0:1.29.0": 0.5},
        f"OBIS code {CONSUMER.obis} appears twice in the record",
    ),
}


@pytest.mark.parametrize("case", list(BAD_RECORDS), ids=list(BAD_RECORDS))
def test_a_bad_record_is_rejected_with_its_reason_and_the_rest_loads(parse_path, source, db, case):
    spoil, reason = BAD_RECORDS[case]
    records = feed_series(CONSUMER.muid, START, 10)
    records[3] = spoil(records[3])
    serve(source, feed_document(records))

    report = ingest_unit(CONSUMER.muid)

    assert report.ok, report.error
    assert (report.records, report.inserted, report.rejected) == (10, 9, 1)
    assert len(report.rejections) == 1
    assert report.rejections[0].startswith("record 3: ")
    assert reason in report.rejections[0]


def test_strict_mode_fails_the_source_on_the_first_rejected_record(parse_path, source, stored):
    records = feed_series(CONSUMER.muid, START, 10)
    records[5]["timestamp"] = "soon"
    serve(source, feed_document(records))

    report = ingest_unit(CONSUMER.muid, strict=True)

    assert report.error == "record 5: timestamp 'soon' is not ISO 8601 (--strict)"
    assert stored()


def test_only_the_first_rejections_are_listed_but_all_are_counted(parse_path, source, db):
    records = feed_series(CONSUMER.muid, START, 20)
    for record in records[:12]:
        record["timestamp"] = "never"
    serve(source, feed_document(records))

    report = ingest_unit(CONSUMER.muid)

    assert report.rejected == 12
    assert len(report.rejections) == 5
    assert report.inserted == 8


def test_a_source_whose_every_record_is_rejected_fails(parse_path, source, stored):
    records = feed_series(CONSUMER.muid, START, 3)
    for record in records:
        record["timestamp"] = "never"
    serve(source, feed_document(records))

    report = ingest_unit(CONSUMER.muid)

    # Every window of the poll gets the same three records back.
    assert re.fullmatch(
        r"all \d+ record\(s\) rejected, the first: record 0: timestamp 'never' is not ISO 8601",
        report.error,
    )
    assert stored()
    unit = Unit.objects.get(muid=CONSUMER.muid)
    assert (unit.consecutive_failures, unit.last_error) == (1, report.error)


def test_a_literal_nan_is_not_json_and_fails_the_document(parse_path, source, stored):
    body = feed_document(feed_series(CONSUMER.muid, START, 3)).replace(b"0.01", b"NaN", 1)
    serve(source, body)

    report = ingest_unit(CONSUMER.muid)

    assert report.error.startswith("invalid JSON")
    assert stored()


def test_an_empty_data_list_loads_nothing_and_succeeds(parse_path, source, stored):
    serve(source, b'{"data": []}')

    report = ingest_unit(CONSUMER.muid)

    assert report.ok
    assert (report.records, report.inserted, report.rejected) == (0, 0, 0)
    assert stored()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"items": []}', "the document has no 'data' key"),
        (b'{"data": {"a": 1}}', "'data' is not a list"),
        (b"[1, 2, 3]", "the document has no 'data' key"),
    ],
)
def test_a_document_without_a_data_list_fails(parse_path, source, stored, body, error):
    serve(source, body)

    report = ingest_unit(CONSUMER.muid)

    assert report.error == error
    assert stored()


def test_duplicate_timestamps_in_one_document_keep_the_first_and_reject_the_rest(
    parse_path, source, db
):
    records = feed_series(CONSUMER.muid, START, 4)
    repeat = feed_record(START, 0.5, muid=CONSUMER.muid)
    serve(source, feed_document([*records, repeat]))

    report = ingest_unit(CONSUMER.muid)

    assert report.ok
    assert (report.records, report.inserted, report.rejected) == (5, 4, 1)
    assert report.rejections == [
        "record 4: duplicate of record 3 (same unit, OBIS code and timestamp)"
    ]
    assert Reading.objects.get(timestamp=START).value == Decimal("0.01")


def test_duplicates_fail_the_source_in_strict_mode(parse_path, source, db):
    records = feed_series(CONSUMER.muid, START, 4)
    serve(source, feed_document([*records, records[0]]))

    report = ingest_unit(CONSUMER.muid, strict=True)

    assert report.error.endswith("(same unit, OBIS code and timestamp) (--strict)")
    assert not Unit.objects.exists()


def test_an_older_document_with_a_null_second_key_gives_one_reading_per_record(
    parse_path, tmp_path, db
):
    records = [
        feed_record(START, 0.25, muid=CONSUMER.muid) | {EXPORT: None},
        feed_record(START, None, muid=CONSUMER.muid) | {EXPORT: 0.5},
    ]
    records[1]["timestamp"] = "2023-03-01T00:15:00.000Z"
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"data": records}))

    report = ingest_location(str(path))

    assert report.ok, report.error
    assert report.obis_codes == [CONSUMER.obis, EXPORT]
    assert report.inserted == 2


def test_a_missing_file_fails_with_its_reason(db):
    report = ingest_location("/nonexistent/feed.json")

    assert report.error == "cannot read /nonexistent/feed.json: No such file or directory"


def test_a_failed_source_leaves_no_unit_or_channel_behind(parse_path, source, db):
    records = challenge_records(CONSUMER)
    body = json.dumps({"data": records}).encode()
    serve(source, body[:-200])  # cut inside a token: a lexical error

    report = ingest_unit(CONSUMER.muid)

    assert not report.ok
    assert not Unit.objects.exists()
