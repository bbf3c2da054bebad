"""Every bad query parameter is a 400 naming it; nothing a client sends is a 500."""

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import ChannelFactory
from tests.meters.api.conftest import AGGREGATE, READINGS, add_readings

CASES = [
    (READINGS, {"start": "yesterday"}, "start"),
    (READINGS, {"start": "2023-02-01T00:00:00"}, "start"),
    (READINGS, {"end": "2023-02-30"}, "end"),
    (READINGS, {"start": "2023-02-02", "end": "2023-02-01"}, "end"),
    (READINGS, {"start": "2023-02-01", "end": "2023-02-01"}, "end"),
    (READINGS, {"start": "0001-01-01"}, "start"),
    (READINGS, {"end": "9999-12-31T23:59:59-23:59"}, "end"),
    (READINGS, {"muid": "not-a-uuid"}, "muid"),
    (READINGS, {"obis": "1-0:1.29"}, "obis"),
    (READINGS, {"obis": "1-0:1.256.0*255"}, "obis"),
    (READINGS, {"quality": "x" * 33}, "quality"),
    (READINGS, {"tz": "Mars/Olympus_Mons"}, "tz"),
    (READINGS, {"tz": "Etc/GMT+10"}, "tz"),
    (READINGS, {"ordering": "value"}, "ordering"),
    (READINGS, {"page_size": "5001"}, "page_size"),
    (READINGS, {"page_size": "0"}, "page_size"),
    (READINGS, {"page_size": "ten"}, "page_size"),
    (READINGS, {"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
    (AGGREGATE, {}, "interval"),
    (AGGREGATE, {"interval": "fortnight"}, "interval"),
    (AGGREGATE, {"interval": "day", "agg": "median"}, "agg"),
    (AGGREGATE, {"interval": "day", "tz": "europe/zurich"}, "tz"),
    (AGGREGATE, {"interval": "day", "start": "2023-02-01T00:00"}, "start"),
    (AGGREGATE, {"interval": "15min", "start": "2023-01-01", "end": "2024-01-01"}, "interval"),
]


@pytest.mark.parametrize(
    ("path", "params", "parameter"), CASES, ids=[f"{c[2]}={list(c[1].values())}" for c in CASES]
)
def test_a_bad_parameter_is_a_400_naming_it(api, db, path, params, parameter):
    response = api(path, **params)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert list(response.json()["errors"]) == [parameter]
    assert all(isinstance(reason, str) for reason in response.json()["errors"][parameter])


def test_several_bad_parameters_are_reported_together(api, db):
    errors = api(AGGREGATE, interval="year", agg="median", muid="x").json()["errors"]

    assert set(errors) == {"interval", "agg", "muid"}


def test_an_error_asked_for_as_csv_is_json(api, db):
    response = api(READINGS, start="nonsense", format="csv")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "start" in response.json()["errors"]


def test_the_bucket_limit_comes_from_settings(api, db, settings):
    settings.API_MAX_BUCKETS = 24
    day = {"start": "2023-02-01", "end": "2023-02-02"}

    assert api(AGGREGATE, interval="hour", **day).status_code == 200
    assert api(AGGREGATE, interval="15min", **day).status_code == 400


def test_an_open_range_is_limited_by_the_data_it_would_cover(api, db, settings):
    settings.API_MAX_BUCKETS = 10
    ChannelFactory(
        first_reading_at=datetime(2023, 1, 1, tzinfo=UTC),
        last_reading_at=datetime(2023, 12, 31, tzinfo=UTC),
    )

    assert api(AGGREGATE, interval="month").status_code == 400
    assert api(AGGREGATE, interval="month", start="2023-06-01").status_code == 200


def test_a_page_size_at_the_configured_bound_is_accepted(api, db, settings):
    settings.API_MAX_PAGE_SIZE = 50

    assert api(READINGS, page_size=50).status_code == 200
    assert api(READINGS, page_size=51).status_code == 400


# Text a client might send: free text, near-misses of valid values, and valid values.
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "2023-02-01",
            "2023-02-01T00:00:00Z",
            "2023-10-29T02:30:00+01:00",
            "1969-12-31T23:59:59Z",
            "2199-12-31",
            "9999-12-31",
            "15min",
            "hour",
            "day",
            "week",
            "month",
            "sum",
            "avg",
            "count",
            "Europe/Zurich",
            "UTC",
            "Asia/Kathmandu",
            "America/St_Johns",
            "Etc/GMT-14",
            "0100011D00FF",
            "1-0:1.29.0*255",
            "-timestamp",
            "csv",
            "json",
            "api",
            "0",
            "-1",
            "5000",
            "1e3",
            "\x00",
            "95ce3367-cbce-4a4d-bbe3-da082831d7bd",
        ]
    ),
)
PARAMETERS = st.dictionaries(
    st.sampled_from(
        [
            "muid",
            "obis",
            "quality",
            "start",
            "end",
            "tz",
            "ordering",
            "page_size",
            "cursor",
            "interval",
            "agg",
            "format",
        ]
    ),
    st.one_of(VALUES, st.lists(VALUES, max_size=3)),
    max_size=6,
)


@pytest.fixture
def some_readings(db):
    channel = ChannelFactory(
        first_reading_at=datetime(2023, 10, 28, tzinfo=UTC),
        last_reading_at=datetime(2023, 10, 30, 23, 45, tzinfo=UTC),
    )
    add_readings(channel, datetime(2023, 10, 28, tzinfo=UTC), 3 * 96)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from([READINGS, AGGREGATE]), params=PARAMETERS)
def test_no_query_string_produces_a_server_error(staff_client, some_readings, path, params):
    response = staff_client.get(path, params)

    assert response.status_code < 500
    # format=api asks for the browsable API, which shows errors as HTML.
    if response.status_code == 400 and response["Content-Type"] == "application/json":
        assert response.json()["errors"]
