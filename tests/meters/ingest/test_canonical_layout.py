"""The endpoint's compact layout is read by a regex per record (meters.ingest.parse), anything
else by ijson. Both must give the same readings and the same rejections, record for record."""

import io
import json
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meters.ingest.errors import DocumentError
from meters.ingest.parse import parse_readings
from tests.conftest import CONSUMER

MUID = str(CONSUMER.muid)
OTHER = "0100021D00FF"


def record(timestamp="2023-02-01T00:15:00.000Z", muid=MUID, **values) -> dict:
    values = values or {"0100011D00FF": 0.0117}
    return {
        "measurement": "energy",
        "timestamp": timestamp,
        "tags": {"muid": muid, "quality": "measured"},
        **values,
    }


def compact(records: list) -> bytes:
    return json.dumps({"data": records}, separators=(",", ":")).encode()


def spaced(records: list) -> bytes:
    return json.dumps({"data": records}).encode()


def parsed(body: bytes, expected_muid=None) -> list:
    return list(parse_readings(io.BytesIO(body), expected_muid=expected_muid))


def assert_same(records: list, expected_muid=None) -> list:
    fast = parsed(compact(records), expected_muid)
    slow = parsed(spaced(records), expected_muid)
    assert fast == slow
    return fast


CASES = {
    "a plain value": record(),
    "an integer": record(**{"0100011D00FF": 3}),
    "a negative zero": record(**{"0100011D00FF": -0.0}),
    "a float artefact": record(**{"0100011D00FF": 0.17325000000000002}),
    "seven decimals, rounded": record(**{"0100011D00FF": 0.0000005}),
    "an exponent": record(**{"0100011D00FF": 1e-05}),
    "a huge exponent": record(**{"0100011D00FF": 9e20}),
    "ten integer digits": record(**{"0100011D00FF": 1234567890}),
    "a null value": record(**{"0100011D00FF": None}),
    "two channels": record(**{"0100011D00FF": 1.5, OTHER: 0.25}),
    "two channels, one null": record(**{"0100011D00FF": None, OTHER: 0.25}),
    "a lower-case key": record(**{"0100011d00ff": 0.5}),
    "a key that is no OBIS code": record(**{"0100011D00FX": 0.5}),
    "an offset timestamp": record(timestamp="2023-02-01T01:15:00+01:00"),
    "a timestamp without zone": record(timestamp="2023-02-01T00:15:00"),
    "an impossible date": record(timestamp="2023-02-30T00:15:00.000Z"),
    "microseconds": record(timestamp="2023-02-01T00:15:00.123456Z"),
    "an upper-case muid": record(muid=MUID.upper()),
    "a muid that is no UUID": record(muid="00000000-0000-0000-0000-00000000000g"),
    "another unit's muid": record(muid=str(uuid.UUID(int=7))),
}


@pytest.mark.parametrize("name", CASES)
def test_each_kind_of_record_reads_the_same_in_both_layouts(name):
    assert_same([CASES["a plain value"], CASES[name], CASES["an integer"]])


@pytest.mark.parametrize("name", CASES)
def test_the_requested_unit_is_checked_the_same_in_both_layouts(name):
    assert_same([CASES[name]], expected_muid=CONSUMER.muid)


def test_a_repeated_key_keeps_its_last_value_in_both_layouts():
    body = (
        b'{"data":[{"measurement":"energy","timestamp":"2023-02-01T00:15:00.000Z",'
        b'"tags":{"muid":"' + MUID.encode() + b'","quality":"measured"},'
        b'"0100011D00FF":1,"0100011D00FF":2}]}'
    )
    (reading,) = parsed(body)
    (slow,) = parsed(body.replace(b",", b", "))
    assert reading == slow
    assert reading.value == Decimal(2)


def test_the_canonical_timestamp_is_kept_as_text_and_others_are_written_in_utc():
    plain, offset = assert_same(
        [record(), record(timestamp="2023-02-01T01:15:00+01:00", **{"0100011D00FF": 1})]
    )
    assert plain.timestamp_text == "2023-02-01T00:15:00.000Z"
    assert offset.timestamp_text == "2023-02-01T00:15:00+00:00"
    assert plain.timestamp == offset.timestamp


@pytest.mark.parametrize(
    ("tail", "kind"),
    [
        (b",]}", "invalid JSON"),  # a trailing comma after canonical records
        (b"]", "truncated JSON"),
        (b',{"measurement":"energy","timestamp":"2023-02-', "truncated JSON"),
        (b"]}garbage", "invalid JSON"),
        (b',{"measurement":NaN}]}', "invalid JSON"),
    ],
)
def test_a_broken_end_after_canonical_records_fails_the_document(tail, kind):
    body = compact([record(), record(timestamp="2023-02-01T00:00:00.000Z")])[:-2] + tail
    with pytest.raises(DocumentError, match=f"^{kind}"):
        parsed(body)


def test_records_after_the_list_ends_are_read_as_ijson_reads_them():
    body = compact([record()])[:-1] + b',"data":' + compact([record()])[8:]
    assert parsed(body) == parsed(body.replace(b",", b", "))


@given(
    values=st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False, width=64),
            st.integers(min_value=-(10**10), max_value=10**10),
            st.none(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_any_numbers_read_the_same_in_both_layouts(values):
    records = [
        record(timestamp=f"2023-02-01T00:{15 * (i % 4):02d}:00.000Z", **{"0100011D00FF": v})
        for i, v in enumerate(values)
    ]
    assert_same(records)


def test_the_compact_layout_takes_the_regex_path():
    from meters.ingest.parse import iter_records

    records = [record(**{"0100011D00FF": 0.5}), record(**{"0100011D00FF": None})]
    kinds = [type(item).__name__ for _, item in iter_records(io.BytesIO(compact(records)))]
    assert kinds == ["Match", "Match"]
