"""The parse's accelerator (meters/ingest/fast.py) takes the plain documents an API sends and
reads from them exactly what the reference stream parse reads; every other document goes to the
reference parse, so every refusal comes from one place."""

import io
import json
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meters.ingest import fast, parse
from meters.ingest.errors import DocumentError
from tests.conftest import CONSUMER
from tests.factories import feed_document, feed_series
from tests.meters.ingest.test_layouts import LAYOUTS, records


def outcome(parse_readings, body: bytes) -> list | str:
    """Everything a parse yields for `body`, or the one line that fails the document."""
    try:
        return list(parse_readings(io.BytesIO(body)))
    except DocumentError as error:
        return str(error)


def taken_by_accelerator(body: bytes) -> bool:
    """Whether the accelerator reads `body` itself, without the reference parse."""
    with mock.patch.object(parse, "parse_readings") as reference:
        fast.parse_readings(io.BytesIO(body))
    return not reference.called


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_plain_document_in_any_layout_is_read_by_the_accelerator(layout):
    body = LAYOUTS[layout]({"data": records()}).encode()

    assert taken_by_accelerator(body)
    assert outcome(fast.parse_readings, body) == outcome(parse.parse_readings, body)


PLAIN = feed_document(feed_series(CONSUMER.muid, parse.EARLIEST, 3))
LEFT_TO_THE_REFERENCE = {
    "data repeated": PLAIN[:-1] + b', "data": []}',
    "data repeated, spelled with an escape": PLAIN[:-1] + b', "d\\u0061ta": []}',
    "another top-level key": PLAIN[:-1] + b', "next": null}',
    "an empty data list": b'{"data": []}',
    "an empty data list after a long head": b'{"data": [' + b" " * 70_000 + b"]}",
    "nested too deep": b'{"data": [' + b"[" * 40 + b"]" * 40 + b"]}",
    "a long number": PLAIN.replace(b"0.01", b"1" * 101, 1),
    "not JSON": b"<html>busy</html>",
    "truncated": PLAIN[:-30],
    "trailing bytes": PLAIN + b" x",
    "not UTF-8": PLAIN.replace(b"energy", b"\xff\xfe", 1),
    "a lone surrogate": PLAIN.replace(b"energy", b"\\ud800", 1),
    "data not a list": b'{"data": {"a": 1}}',
    "a list at the top": b"[1, 2, 3]",
}


@pytest.mark.parametrize("case", list(LEFT_TO_THE_REFERENCE))
def test_a_document_that_is_not_plain_is_left_to_the_reference_parse(case):
    body = LEFT_TO_THE_REFERENCE[case]

    assert not taken_by_accelerator(body)
    assert outcome(fast.parse_readings, body) == outcome(parse.parse_readings, body)


def test_a_document_larger_than_the_bound_streams_through_the_reference_parse(monkeypatch):
    body = LAYOUTS["pretty"]({"data": records()}).encode()
    monkeypatch.setattr(fast, "FAST_BYTES", len(body) - 1)

    assert not taken_by_accelerator(body)
    assert outcome(fast.parse_readings, body) == outcome(parse.parse_readings, body)


# Values spelled as a feed, a proxy or an attacker may write them.
NUMBERS = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=8).map(str),
    st.sampled_from(["1e400", "-1E-7", "0e0", "-0", "-0.0", "1.5e+3", "1.10", "1E12"]),
)
SCALARS = st.one_of(
    NUMBERS,
    st.sampled_from(["true", "false", "null", '"0.5"', '"NaN"', '"measured"', '"energy"']),
    st.text(max_size=8).map(json.dumps),
)
KEYS = st.sampled_from(
    ["timestamp", "measurement", "tags", "muid", "quality", "0100011D00FF", "0100011d00ff", "x"]
)
TIMESTAMPS = st.sampled_from(
    [
        "2023-03-01T00:00:00.000Z",
        "2023-03-01T01:00:00+01:00",
        "2023-03-01 00:15Z",
        "2023-03-01T00:30:00",
        "1969-12-31T23:45:00Z",
        "2023-02-30T00:00:00Z",
        "soon",
    ]
).map(json.dumps)


def _object(pairs: list[tuple[str, str]], colon: str, comma: str) -> str:
    return "{" + comma.join(f"{json.dumps(k)}{colon}{v}" for k, v in pairs) + "}"


@st.composite
def documents(draw) -> bytes:
    """A document of a few records, built as text: keys repeated, values of every kind,
    spellings of numbers JSON allows, in a drawn layout."""
    colon, comma = draw(st.sampled_from([(":", ","), (": ", ", "), (" :\n", "\n,\t")]))
    items = []
    for _ in range(draw(st.integers(0, 4))):
        tags = [("muid", json.dumps(str(CONSUMER.muid))), ("quality", '"measured"')]
        tags += draw(st.lists(st.tuples(KEYS, SCALARS), max_size=2))
        pairs = [
            ("timestamp", draw(TIMESTAMPS)),
            ("measurement", '"energy"'),
            ("tags", _object(tags, colon, comma)),
            (CONSUMER.obis, draw(NUMBERS)),
        ]
        pairs += draw(st.lists(st.tuples(KEYS, SCALARS), max_size=3))
        items.append(_object(draw(st.permutations(pairs)), colon, comma))
    return ("{" + json.dumps("data") + colon + "[" + comma.join(items) + "]}").encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_the_accelerator_reads_every_document_as_the_reference_parse_does(body):
    assert outcome(fast.parse_readings, body) == outcome(parse.parse_readings, body)
