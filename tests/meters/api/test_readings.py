import csv
import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from meters.models import Reading
from tests.conftest import CONSUMER, PRODUCER, challenge_records
from tests.factories import EXPORT, ChannelFactory
from tests.meters.api.conftest import LOGIN_QUERIES, READINGS, add_readings, body


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def walk(api, **params) -> list[dict]:
    """Every reading of a listing, following the next links."""
    page = api(READINGS, **params).json()
    readings = page["results"]
    while page["next"]:
        page = api(page["next"]).json()
        readings += page["results"]
    return readings


def test_a_reading_carries_its_unit_code_instant_and_exact_value(api, challenge_data):
    first = results(api(READINGS, muid=str(CONSUMER.muid), page_size=1))[0]

    assert first == {
        "muid": str(CONSUMER.muid),
        "obis": "0100011D00FF",
        "timestamp": "2023-02-01T00:00:00Z",
        "value": "0.0162",
        "quality": "measured",
        "measurement": "energy",
    }


def test_values_come_back_as_the_feed_sent_them_without_float_noise(api, challenge_data):
    # The feed sends e.g. 0.17325000000000002 for 0.17325 (144 such values for this unit).
    sent = {
        record["timestamp"].replace(".000Z", "Z"): Decimal(str(record[PRODUCER.obis])).quantize(
            Decimal("0.000001")
        )
        for record in challenge_records(PRODUCER)
    }

    served = walk(api, muid=str(PRODUCER.muid), page_size=5000)

    assert {r["timestamp"]: Decimal(r["value"]) for r in served} == sent
    assert all(len(r["value"].partition(".")[2]) <= 6 for r in served)
    assert "0.17325" in {r["value"] for r in served}


def test_muid_filters_one_unit(api, challenge_data):
    readings = walk(api, muid=str(PRODUCER.muid), page_size=5000)

    assert len(readings) == 2688
    assert {r["muid"] for r in readings} == {str(PRODUCER.muid)}


@pytest.mark.parametrize(
    "muid",
    [
        [str(CONSUMER.muid), str(PRODUCER.muid)],
        f"{CONSUMER.muid},{PRODUCER.muid}",
    ],
    ids=["repeated", "comma-separated"],
)
def test_muid_takes_several_units(api, challenge_data, muid):
    readings = walk(api, muid=muid, page_size=5000)

    assert len(readings) == 2 * 2688


def test_an_unknown_muid_gives_no_readings(api, challenge_data):
    response = api(READINGS, muid=str(uuid.uuid4()))

    assert results(response) == []
    assert response.json()["next"] is None


@pytest.mark.parametrize("obis", ["0100021D00FF", "0100021d00ff", "1-0:2.29.0*255"])
def test_obis_filters_by_hex_or_readable_code(api, challenge_data, obis):
    readings = walk(api, obis=obis, page_size=5000)

    assert {r["obis"] for r in readings} == {"0100021D00FF"}
    assert len(readings) == 2688


def test_quality_filters_readings(api, db):
    channel = ChannelFactory()
    add_readings(channel, datetime(2023, 2, 1, tzinfo=UTC), 3)
    add_readings(channel, datetime(2023, 2, 2, tzinfo=UTC), 2, quality="estimated")

    readings = results(api(READINGS, quality="estimated"))

    assert [r["timestamp"] for r in readings] == ["2023-02-02T00:00:00Z", "2023-02-02T00:15:00Z"]


def test_start_is_inclusive_and_end_exclusive(api, challenge_data):
    readings = results(
        api(
            READINGS,
            muid=str(CONSUMER.muid),
            start="2023-02-10T12:00:00Z",
            end="2023-02-10T13:00:00Z",
        )
    )

    assert [r["timestamp"] for r in readings] == [
        "2023-02-10T12:00:00Z",
        "2023-02-10T12:15:00Z",
        "2023-02-10T12:30:00Z",
        "2023-02-10T12:45:00Z",
    ]


def test_a_plain_date_is_midnight_in_tz(api, challenge_data):
    zurich = results(api(READINGS, muid=str(CONSUMER.muid), start="2023-02-10", page_size=1))
    utc = results(api(READINGS, muid=str(CONSUMER.muid), start="2023-02-10", tz="UTC", page_size=1))

    assert zurich[0]["timestamp"] == "2023-02-09T23:00:00Z"
    assert utc[0]["timestamp"] == "2023-02-10T00:00:00Z"


def test_an_offset_in_start_is_honoured(api, challenge_data):
    readings = results(
        api(READINGS, muid=str(CONSUMER.muid), start="2023-02-10T12:00:00+05:30", page_size=1)
    )

    assert readings[0]["timestamp"] == "2023-02-10T06:30:00Z"


def test_filters_combine(api, challenge_data):
    readings = walk(
        api,
        muid=[str(CONSUMER.muid), str(PRODUCER.muid)],
        obis="1-0:1.29.0*255",
        quality="measured",
        start="2023-02-05",
        end="2023-02-06",
    )

    assert len(readings) == 96
    assert {r["muid"] for r in readings} == {str(CONSUMER.muid)}
    assert readings[0]["timestamp"] == "2023-02-04T23:00:00Z"
    assert readings[-1]["timestamp"] == "2023-02-05T22:45:00Z"


def test_a_unit_with_a_code_it_lacks_gives_no_readings(api, challenge_data):
    assert results(api(READINGS, muid=str(CONSUMER.muid), obis=EXPORT)) == []


def test_readings_come_oldest_first_by_default_and_newest_first_on_request(api, challenge_data):
    oldest = results(api(READINGS, muid=str(CONSUMER.muid), page_size=2))
    newest = results(api(READINGS, muid=str(CONSUMER.muid), page_size=2, ordering="-timestamp"))

    assert [r["timestamp"] for r in oldest] == ["2023-02-01T00:00:00Z", "2023-02-01T00:15:00Z"]
    assert [r["timestamp"] for r in newest] == ["2023-02-28T23:45:00Z", "2023-02-28T23:30:00Z"]


@pytest.mark.parametrize("ordering", ["timestamp", "-timestamp"])
def test_pagination_walks_the_whole_range_without_missing_or_repeating(
    api, challenge_data, ordering
):
    readings = walk(api, page_size=333, ordering=ordering)

    keys = [(r["muid"], r["timestamp"]) for r in readings]
    assert len(keys) == len(set(keys)) == 2 * 2688
    timestamps = [r["timestamp"] for r in readings]
    assert timestamps == sorted(timestamps, reverse=ordering == "-timestamp")


def test_previous_links_walk_back_over_the_same_pages(api, challenge_data):
    pages = [api(READINGS, page_size=1000).json()]
    while pages[-1]["next"]:
        pages.append(api(pages[-1]["next"]).json())

    back = [api(pages[-1]["previous"]).json()]
    while back[-1]["previous"]:
        back.append(api(back[-1]["previous"]).json())

    assert [p["results"] for p in reversed(back)] == [p["results"] for p in pages[:-1]]
    assert pages[0]["previous"] is None


def test_readings_inserted_between_pages_neither_repeat_nor_skip_others(api, db):
    units = ChannelFactory.create_batch(3)
    for channel in units:
        add_readings(channel, datetime(2023, 2, 1, tzinfo=UTC), 4)
    first = api(READINGS, page_size=5).json()
    # A fourth channel reports at an instant the first page has already passed, and at one ahead.
    late = ChannelFactory()
    add_readings(late, datetime(2023, 2, 1, tzinfo=UTC), 1)
    add_readings(late, datetime(2023, 2, 1, 0, 45, tzinfo=UTC), 1)

    rest = []
    page = first
    while page["next"]:
        page = api(page["next"]).json()
        rest += page["results"]

    seen = [(r["muid"], r["timestamp"]) for r in first["results"] + rest]
    assert len(seen) == len(set(seen))
    existing = {
        (str(muid), ts.isoformat().replace("+00:00", "Z"))
        for muid, ts in Reading.objects.exclude(channel=late).values_list(
            "channel__unit__muid", "timestamp"
        )
    }
    assert existing <= set(seen)
    assert (str(late.unit.muid), "2023-02-01T00:45:00Z") in set(seen)


def test_page_size_bounds_a_page(api, challenge_data):
    assert len(results(api(READINGS, page_size=7))) == 7


def test_the_default_page_size_comes_from_settings(api, challenge_data, settings):
    settings.API_PAGE_SIZE = 11

    assert len(results(api(READINGS))) == 11


def test_a_page_takes_one_query_whatever_its_size(api, challenge_data, django_assert_num_queries):
    with django_assert_num_queries(LOGIN_QUERIES + 1):
        small = api(READINGS, page_size=2)
    with django_assert_num_queries(LOGIN_QUERIES + 1):
        large = api(READINGS, page_size=2000)

    assert len(small.json()["results"]) == 2
    assert len(large.json()["results"]) == 2000


def test_csv_streams_every_filtered_reading(api, challenge_data):
    response = api(READINGS, muid=str(CONSUMER.muid), start="2023-02-02", format="csv")

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert len(rows) == 2688 - 92
    assert rows[0] == {
        "muid": str(CONSUMER.muid),
        "obis": "0100011D00FF",
        "timestamp": "2023-02-01T23:00:00Z",
        "value": rows[0]["value"],
        "quality": "measured",
        "measurement": "energy",
    }
    assert Decimal(rows[0]["value"]) >= 0


def test_csv_is_chosen_by_the_accept_header_too(staff_client, challenge_data):
    response = staff_client.get(READINGS, {"muid": str(PRODUCER.muid)}, HTTP_ACCEPT="text/csv")

    assert response.streaming
    assert len(body(response).splitlines()) == 1 + 2688


def test_csv_takes_one_query_after_checking_its_row_limit(
    api, challenge_data, django_assert_num_queries
):
    with django_assert_num_queries(LOGIN_QUERIES + 2):
        text = body(api(READINGS, format="csv"))

    assert len(text.splitlines()) == 1 + 2 * 2688
