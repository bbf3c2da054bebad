"""The plain-dict writers give exactly what the serializers that document the shape give."""

from datetime import UTC, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from meters.api.pagination import paginate
from meters.api.serializers import (
    AggregateSerializer,
    ReadingPageSerializer,
    aggregate_data,
    reading_page_data,
    with_bound_texts,
)
from meters.api.views import READING_FIELDS
from meters.models import Reading
from meters.selectors import (
    Agg,
    Bucket,
    Interval,
    bucket_bounds,
    readings_aggregate,
    readings_with_channel,
)


@pytest.mark.parametrize(
    ("interval", "agg", "tz"),
    [
        ("day", "sum", "Europe/Zurich"),
        ("hour", "count", "Europe/Zurich"),
        ("15min", "max", "Asia/Kolkata"),
        ("week", "avg", "UTC"),
        ("month", "min", "America/New_York"),
    ],
)
@pytest.mark.parametrize(
    ("start", "end"),
    [(None, None), (datetime(2023, 2, 5, tzinfo=UTC), datetime(2023, 2, 20, 11, tzinfo=UTC))],
)
def test_aggregate_data_equals_the_serializers_answer(
    challenge_data, interval, agg, tz, start, end
):
    interval, agg, tz = Interval(interval), Agg(agg), ZoneInfo(tz)
    buckets = list(readings_aggregate(interval=interval, agg=agg, tz=tz))
    answer = {
        "interval": interval,
        "agg": agg,
        "tz": str(tz),
        "start": start and start.astimezone(tz),
        "end": end and end.astimezone(tz),
        "buckets": buckets,
    }

    written = aggregate_data(
        interval=interval, agg=agg, tz=tz, start=start, end=end, buckets=buckets
    )

    assert written == AggregateSerializer(answer, context={"agg": agg}).data
    assert len(written["buckets"]) > 1


@pytest.mark.parametrize("descending", [False, True])
def test_reading_page_data_equals_the_serializers_page(challenge_data, descending):
    request = Request(APIRequestFactory().get("/api/v1/readings/", {"page_size": 300}))
    readings = readings_with_channel(Reading.objects.all())
    page = paginate(readings, request, descending=descending, fields=READING_FIELDS)

    assert reading_page_data(page) == ReadingPageSerializer(page).data
    assert len(page.results) == 300


def test_bound_texts_follow_gaps_and_the_hour_repeated_when_dst_ends():
    tz = ZoneInfo("Europe/Zurich")
    bounds = bucket_bounds(interval=Interval.HOUR, tz=tz)
    # 00:00 UTC on 2023-10-29 is 02:00 CEST; an hour later the clock shows 02:00 again (CET).
    first_hour = int(datetime(2023, 10, 29, 0, tzinfo=UTC).timestamp())
    keys = [first_hour - 7200, first_hour, first_hour + 3600, first_hour + 3 * 3600]
    buckets = []
    for key in keys:
        start, end, expected = bounds(key)
        buckets.append(Bucket("m", "o", start, end, 1, expected, expected))

    texts = [(start, end) for _, start, end in with_bound_texts(buckets)]

    assert texts == [
        ("2023-10-29T00:00:00+02:00", "2023-10-29T01:00:00+02:00"),
        ("2023-10-29T02:00:00+02:00", "2023-10-29T02:00:00+01:00"),
        ("2023-10-29T02:00:00+01:00", "2023-10-29T03:00:00+01:00"),
        ("2023-10-29T04:00:00+01:00", "2023-10-29T05:00:00+01:00"),
    ]


def test_bounds_shared_by_the_buckets_of_many_channels_are_formatted_once():
    formatted = []

    class Moment(datetime):
        def isoformat(self, *args, **kwargs) -> str:
            formatted.append(self)
            return super().isoformat(*args, **kwargs)

    days = [Moment(2023, 1, day, tzinfo=UTC) for day in (1, 2, 3)]
    buckets = [
        Bucket(f"unit {unit}", "o", start, end, 1, 96, 96)
        for unit in range(50)
        for start, end in pairwise(days)
    ]

    texts = {(start, end) for _, start, end in with_bound_texts(buckets)}

    assert texts == {
        ("2023-01-01T00:00:00+00:00", "2023-01-02T00:00:00+00:00"),
        ("2023-01-02T00:00:00+00:00", "2023-01-03T00:00:00+00:00"),
    }
    assert len(formatted) == 3
