"""FastJSONRenderer writes what DRF's JSONRenderer writes, byte for byte."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer

from meters.api.renderers import FastJSONRenderer
from meters.api.serializers import aggregate_data
from meters.selectors import Agg, Interval, readings_aggregate
from tests.meters.api.conftest import READINGS


def both(data, media_type: str = "application/json") -> tuple[bytes, bytes]:
    return (
        JSONRenderer().render(data, media_type, {}),
        FastJSONRenderer().render(data, media_type, {}),
    )


def test_an_aggregate_answer_is_written_alike(challenge_data):
    tz = ZoneInfo("Europe/Zurich")
    buckets = readings_aggregate(interval=Interval.HOUR, agg=Agg.SUM, tz=tz)
    answer = aggregate_data(
        interval=Interval.HOUR, agg=Agg.SUM, tz=tz, start=None, end=None, buckets=buckets
    )

    stock, fast = both(answer)

    assert fast == stock
    assert len(answer["buckets"]) > 1000


def test_a_page_of_readings_is_written_alike(api, challenge_data):
    page = api(READINGS, page_size=300).data

    stock, fast = both(page)

    assert fast == stock
    assert b'"next":"http' in fast


@pytest.mark.parametrize(
    "data",
    [
        # An error quoting a client's text: non-ASCII, and the line separators JavaScript
        # does not allow in a string.
        {"errors": {"tz": [ErrorDetail("'Zürich\u2028\u2029' is not an IANA time zone name.")]}},
        # What only DRF's encoder knows: through its default, as the stock renderer does.
        {"at": datetime(2023, 2, 1, tzinfo=UTC), "muid": uuid.UUID(int=1), "v": Decimal("0.25")},
        # Beyond 64 bits: orjson refuses, the stock path writes it.
        {"count": 2**70, "none": None, "list": [1, "two", True]},
    ],
    ids=["error message", "encoder types", "big integer"],
)
def test_other_content_is_written_alike(data):
    stock, fast = both(data)

    assert fast == stock


def test_an_indented_answer_is_asked_for_and_given():
    stock, fast = both({"a": [1, 2]}, "application/json; indent=2")

    assert fast == stock == b'{\n  "a": [\n    1,\n    2\n  ]\n}'
