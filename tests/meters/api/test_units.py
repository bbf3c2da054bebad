import uuid

from tests.conftest import CONSUMER, PRODUCER
from tests.factories import ChannelFactory
from tests.meters.api.conftest import LOGIN_QUERIES, UNITS


def test_it_lists_each_unit_with_its_channels_span_and_count(api, challenge_data):
    units = {unit["muid"]: unit for unit in api(UNITS).json()}

    assert set(units) == {str(CONSUMER.muid), str(PRODUCER.muid)}
    consumer = units[str(CONSUMER.muid)]
    assert consumer["first_reading_at"] == "2023-02-01T00:00:00Z"
    assert consumer["last_reading_at"] == "2023-02-28T23:45:00Z"
    assert consumer["reading_count"] == 2688
    assert consumer["channels"] == [
        {
            "obis": "0100011D00FF",
            "code": "1-0:1.29.0*255",
            "description": "Active energy import (+A) per measuring period",
            "direction": "import",
            "unit": "kWh",
            "first_reading_at": "2023-02-01T00:00:00Z",
            "last_reading_at": "2023-02-28T23:45:00Z",
            "reading_count": 2688,
        }
    ]


def test_it_shows_the_producer_channel_as_export(api, challenge_data):
    unit = api(f"{UNITS}{PRODUCER.muid}/").json()

    assert unit["channels"][0]["code"] == "1-0:2.29.0*255"
    assert unit["channels"][0]["direction"] == "export"


def test_an_unknown_muid_is_a_json_404(api, db):
    response = api(f"{UNITS}{uuid.uuid4()}/")

    assert response.status_code == 404
    assert response.json() == {"errors": {"detail": ["No unit with this muid."]}}


def test_a_muid_that_is_no_uuid_is_a_404_too(api, db):
    assert api(f"{UNITS}not-a-uuid/").status_code == 404


def test_listing_units_takes_two_queries_whatever_their_number(api, db, django_assert_num_queries):
    ChannelFactory.create_batch(5)
    ChannelFactory.create_batch(3, obis="0100021D00FF")

    with django_assert_num_queries(LOGIN_QUERIES + 2):
        response = api(UNITS)

    assert len(response.json()) == 8
