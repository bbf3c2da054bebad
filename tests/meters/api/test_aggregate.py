import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest

from tests.conftest import CHALLENGE_UNITS, CONSUMER, PRODUCER, challenge_records
from tests.factories import ChannelFactory
from tests.meters.api.conftest import AGGREGATE, LOGIN_QUERIES, add_readings, body

# The pandas spelling of each interval: ISO weeks start on Monday and are labelled by it.
RESAMPLE = {
    "15min": {"rule": "15min"},
    "hour": {"rule": "h"},
    "day": {"rule": "D"},
    "week": {"rule": "W-MON", "closed": "left", "label": "left"},
    "month": {"rule": "MS"},
}
PANDAS_AGG = {"sum": "sum", "avg": "mean", "min": "min", "max": "max", "count": "count"}


def recorded_series(unit, tz: str) -> pd.Series:
    records = challenge_records(unit)
    index = pd.to_datetime([r["timestamp"] for r in records], utc=True).tz_convert(tz)
    return pd.Series([r[unit.obis] for r in records], index=index).sort_index()


def pandas_buckets(unit, interval: str, agg: str, tz: str) -> dict[str, tuple]:
    """{bucket start: (value, count)} from pandas' resample of the recorded document."""
    resampled = recorded_series(unit, tz).resample(**RESAMPLE[interval])
    values, counts = resampled.agg(PANDAS_AGG[agg]), resampled.count()
    return {
        start.isoformat(): (values[start], int(counts[start]))
        for start in values.index
        if counts[start] > 0
    }


def buckets(api, **params) -> list[dict]:
    response = api(AGGREGATE, **params)
    assert response.status_code == 200, response.content
    return response.json()["buckets"]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Zurich"])
@pytest.mark.parametrize("agg", ["sum", "avg", "min", "max", "count"])
@pytest.mark.parametrize("interval", ["15min", "hour", "day", "week", "month"])
def test_aggregates_equal_pandas_resample_of_the_recorded_data(
    api, challenge_data, interval, agg, tz
):
    served = buckets(api, interval=interval, agg=agg, tz=tz)

    for unit in CHALLENGE_UNITS:
        expected = pandas_buckets(unit, interval, agg, tz)
        mine = {b["start"]: b for b in served if b["muid"] == str(unit.muid)}
        assert mine.keys() == expected.keys()
        for start, (value, count) in expected.items():
            value = Decimal(str(float(value)))
            assert mine[start]["count"] == count
            if agg == "avg":
                # Both round a mean to 6 places; a tie in the 7th may round either way.
                assert abs(Decimal(mine[start]["value"]) - value) <= Decimal("1e-6")
            else:
                assert Decimal(mine[start]["value"]) == round(value, 6)


def test_the_monthly_sum_is_each_units_total(api, challenge_data):
    months = buckets(api, interval="month", tz="UTC")

    assert {(b["muid"], Decimal(b["value"])) for b in months} == {
        (str(CONSUMER.muid), CONSUMER.total),
        (str(PRODUCER.muid), PRODUCER.total),
    }
    assert {b["count"] for b in months} == {2688}
    assert {b["expected"] for b in months} == {2688}


def test_buckets_carry_their_local_start_end_and_unit(api, challenge_data):
    first = buckets(api, interval="day", muid=str(CONSUMER.muid), start="2023-02-02")[0]

    assert first == {
        "muid": str(CONSUMER.muid),
        "obis": "0100011D00FF",
        "start": "2023-02-02T00:00:00+01:00",
        "end": "2023-02-03T00:00:00+01:00",
        "value": first["value"],
        "unit": "kWh",
        "count": 96,
        "expected": 96,
        "pruned": False,
    }


def test_a_bucket_the_data_only_partly_covers_shows_fewer_readings_than_expected(
    api, challenge_data
):
    # The data starts on 2023-02-01T00:00Z, 01:00 in Zurich.
    first = buckets(api, interval="day", muid=str(CONSUMER.muid))[0]

    assert (first["start"], first["count"], first["expected"]) == (
        "2023-02-01T00:00:00+01:00",
        92,
        96,
    )


@pytest.fixture
def across_dst(db):
    """Readings every 15 minutes from 2023-03-25 to 03-28 and 2023-10-28 to 10-31 (UTC)."""
    channel = ChannelFactory()
    add_readings(channel, datetime(2023, 3, 25, tzinfo=UTC), 3 * 96)
    add_readings(channel, datetime(2023, 10, 28, tzinfo=UTC), 3 * 96)
    return channel


def local_days(api, channel) -> dict[str, tuple[int, int]]:
    days = buckets(api, interval="day", agg="count", muid=str(channel.unit.muid))
    return {b["start"][:10]: (b["count"], b["expected"]) for b in days}


def test_the_local_day_dst_starts_holds_92_readings(api, across_dst):
    assert local_days(api, across_dst)["2023-03-26"] == (92, 92)


def test_the_local_day_dst_ends_holds_100_readings(api, across_dst):
    assert local_days(api, across_dst)["2023-10-29"] == (100, 100)


def test_days_around_a_dst_change_hold_96_readings(api, across_dst):
    days = local_days(api, across_dst)

    assert days["2023-03-27"] == days["2023-10-30"] == (96, 96)


def test_the_hour_repeated_when_dst_ends_is_two_buckets(api, across_dst):
    hours = buckets(
        api,
        interval="hour",
        agg="count",
        start="2023-10-29T01:00:00+02:00",
        end="2023-10-29T04:00:00+01:00",
    )

    assert [(b["start"], b["count"]) for b in hours] == [
        ("2023-10-29T01:00:00+02:00", 4),
        ("2023-10-29T02:00:00+02:00", 4),
        ("2023-10-29T02:00:00+01:00", 4),
        ("2023-10-29T03:00:00+01:00", 4),
    ]


def test_hours_follow_a_zone_offset_by_half_an_hour(api, across_dst):
    hours = buckets(
        api,
        interval="hour",
        tz="Asia/Kolkata",
        start="2023-10-28T00:00:00Z",
        end="2023-10-28T02:00:00Z",
    )

    assert [(b["start"], b["count"]) for b in hours] == [
        ("2023-10-28T05:00:00+05:30", 2),
        ("2023-10-28T06:00:00+05:30", 4),
        ("2023-10-28T07:00:00+05:30", 2),
    ]


def test_the_answer_echoes_the_parameters_as_understood(api, challenge_data):
    answer = api(AGGREGATE, interval="week", start="2023-02-06", end="2023-02-13").json()

    assert {k: v for k, v in answer.items() if k != "buckets"} == {
        "interval": "week",
        "agg": "sum",
        "tz": "Europe/Zurich",
        "start": "2023-02-06T00:00:00+01:00",
        "end": "2023-02-13T00:00:00+01:00",
    }


def test_the_peak_comes_back_as_sent_without_float_noise(api, challenge_data):
    # The feed sends this reading (2023-02-21T12:00Z) as 0.17325000000000002.
    peak = buckets(api, interval="month", agg="max", muid=str(PRODUCER.muid), tz="UTC")

    assert peak[0]["value"] == "0.17325"


@pytest.mark.parametrize("agg", ["sum", "avg", "min", "max"])
def test_aggregates_have_at_most_six_decimal_places(api, challenge_data, agg):
    values = [b["value"] for b in buckets(api, interval="hour", agg=agg)]

    assert all(len(value.partition(".")[2]) <= 6 for value in values)
    assert any("." in value for value in values)


def test_csv_streams_the_buckets(api, challenge_data):
    response = api(AGGREGATE, interval="day", start="2023-02-01", end="2023-02-03", format="csv")

    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [(r["muid"], r["start"], r["count"]) for r in rows] == [
        (str(PRODUCER.muid), "2023-02-01T00:00:00+01:00", "92"),
        (str(PRODUCER.muid), "2023-02-02T00:00:00+01:00", "96"),
        (str(CONSUMER.muid), "2023-02-01T00:00:00+01:00", "92"),
        (str(CONSUMER.muid), "2023-02-02T00:00:00+01:00", "96"),
    ]
    assert set(rows[0]) == {
        "muid",
        "obis",
        "start",
        "end",
        "value",
        "count",
        "expected",
        "pruned",
    }


def test_aggregating_takes_one_query_whatever_the_number_of_buckets_and_one_for_the_rollups(
    api, challenge_data, django_assert_num_queries
):
    """The rollups' status and the retention boundary come in one query."""
    bounds = {"start": "2023-02-01", "end": "2023-03-01"}
    with django_assert_num_queries(LOGIN_QUERIES + 2):
        months = api(AGGREGATE, interval="month", **bounds).json()["buckets"]
    with django_assert_num_queries(LOGIN_QUERIES + 2):
        quarters = api(AGGREGATE, interval="15min", **bounds).json()["buckets"]

    assert len(months) == 2
    assert len(quarters) == 2 * (2688 - 4)


def test_an_open_range_costs_two_more_queries_for_the_channels_span(
    api, challenge_data, django_assert_num_queries
):
    """One for the bucket limit, one to bound the rollups' stretch."""
    with django_assert_num_queries(LOGIN_QUERIES + 4):
        response = api(AGGREGATE, interval="day")

    assert len(response.json()["buckets"]) == 2 * 29
