"""The same readings in any JSON layout (compact, spaced, pretty-printed, keys in another
order, OBIS keys readable rather than hex) and any encoding JSON allows (UTF-8 with or without a
byte-order mark, UTF-16, UTF-32) are read the same and stored as the same rows: the parse
follows JSON, not bytes. Each test runs through the parse's accelerator and through the
reference stream parse (`parse_path`)."""

import io
import json
import random
from datetime import UTC, datetime

import pytest

from meters.ingest import fast, ingest_location
from meters.ingest.parse import ParsedReading
from meters.models import Reading
from meters.obis import format_obis, is_obis_hex
from tests.conftest import CONSUMER, challenge_records
from tests.factories import EXPORT, feed_record, feed_series

START = datetime(2023, 3, 1, tzinfo=UTC)
DAY_AFTER = datetime(2023, 3, 2, tzinfo=UTC)


def records() -> list[dict]:
    """The recorded consumer, plus records of every other kind the feed may send."""
    return [
        *challenge_records(CONSUMER)[:200],
        *feed_series(CONSUMER.muid, START, 5, obis=EXPORT, value=1e-3),
        feed_record(START, 12, muid=CONSUMER.muid, quality="estimated"),
        {**feed_record(DAY_AFTER, None, muid=CONSUMER.muid), EXPORT: 0.5},  # a null and a value
        feed_record("2023-03-03T01:00:00+01:00", 0.125, muid=CONSUMER.muid),
        feed_record(START, "0.1", muid=CONSUMER.muid),  # rejected: a string
    ]


def readable_keys(record: dict) -> dict:
    """The record with its OBIS keys written readable (1-0:1.29.0*255, or 1-0:2.29.0)."""
    return {
        (format_obis(key) if n % 2 else format_obis(key)[:-4]) if is_obis_hex(key) else key: value
        for n, (key, value) in enumerate(record.items())
    }


def reordered(record: dict) -> dict:
    keys = list(record)
    random.Random(len(keys)).shuffle(keys)
    return {key: record[key] for key in reversed(keys)}


LAYOUTS = {
    "compact": lambda data: json.dumps(data, separators=(",", ":")),
    "spaced": json.dumps,
    "pretty": lambda data: json.dumps(data, indent=4),
    "tabs and CRLF": lambda data: json.dumps(data, indent="\t").replace("\n", "\r\n"),
    "keys reordered": lambda data: json.dumps({"data": [reordered(r) for r in data["data"]]}),
}


# Encodings other than plain UTF-8, as Windows' tools write a saved response (PowerShell 5's
# `>` writes UTF-16 with a byte-order mark), and without a mark.
ENCODINGS = {
    "UTF-8 with a byte-order mark": "utf-8-sig",
    "UTF-16": "utf-16",
    "UTF-16 big-endian, no mark": "utf-16-be",
    "UTF-16 little-endian, no mark": "utf-16-le",
    "UTF-32": "utf-32",
    "UTF-32 big-endian, no mark": "utf-32-be",
}


def parsed(body: str, encoding: str = "utf-8") -> list:
    return list(fast.parse_readings(io.BytesIO(body.encode(encoding))))


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_reads_the_same_as_the_compact_one(parse_path, layout):
    data = {"data": records()}

    assert parsed(LAYOUTS[layout](data)) == parsed(LAYOUTS["compact"](data))


def test_obis_keys_written_readable_read_as_their_hex_codes(parse_path):
    data = {"data": records()}
    readable = {"data": [readable_keys(record) for record in data["data"]]}

    read, hex_read = parsed(json.dumps(readable)), parsed(json.dumps(data))

    assert read[:-1] == hex_read[:-1]
    # A rejection names the key as the document wrote it.
    assert read[-1].reason == "value of 1-0:1.29.0*255 is not a number: '0.1'"


@pytest.mark.parametrize("encoding", list(ENCODINGS.values()), ids=list(ENCODINGS))
@pytest.mark.parametrize("layout", ["compact", "pretty"])
def test_every_encoding_reads_the_same_as_plain_utf8(parse_path, layout, encoding):
    # A record with text beyond ASCII shows that characters, not only bytes, come through.
    data = {"data": [*records(), feed_record(START, 1, muid=CONSUMER.muid, quality="mesuré")]}
    body = LAYOUTS[layout](data)

    assert parsed(body, encoding) == parsed(body)
    assert parsed(body, encoding)[-1].reason == "tags.quality 'mesuré' is not a short word"


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_stores_the_same_rows(parse_path, layout, tmp_path, db):
    path = tmp_path / "feed.json"
    path.write_text(LAYOUTS[layout]({"data": records()}))

    report = ingest_location(str(path))

    assert (report.records, report.rejected) == (len(records()), 1)
    rows = Reading.objects.values_list("channel__obis", "timestamp", "value", "quality")
    expected = [
        (r.obis, r.timestamp, r.value, r.quality)
        for r in parsed(LAYOUTS["compact"]({"data": records()}))
        if isinstance(r, ParsedReading)
    ]
    assert report.inserted == len(expected) == 208
    assert sorted(rows) == sorted(expected)
