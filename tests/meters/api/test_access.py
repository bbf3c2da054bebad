"""Who may read what through the API: a login is required, and a unit one may not read
behaves exactly like a unit that does not exist."""

import uuid

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from meters.models import Unit
from tests.conftest import CONSUMER, PRODUCER
from tests.meters.api.conftest import AGGREGATE, READINGS, UNITS, body

ENDPOINTS = [
    UNITS,
    f"{UNITS}{CONSUMER.muid}/",
    READINGS,
    f"{READINGS}?format=csv",
    f"{AGGREGATE}?interval=day",
    f"{AGGREGATE}?interval=day&format=csv",
]
NOWHERE = uuid.UUID("00000000-0000-4000-8000-000000000000")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_an_anonymous_request_is_a_401_asking_for_a_token(client, challenge_data, path):
    response = client.get(path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "errors": {"detail": ["Authentication credentials were not provided."]}
    }


def test_a_wrong_token_is_a_401(client, challenge_data):
    response = client.get(UNITS, HTTP_AUTHORIZATION="Token 0123456789abcdef")

    assert response.status_code == 401
    assert response.json() == {"errors": {"detail": ["Invalid token."]}}


def test_a_token_reads_what_its_user_may_read(client, challenge_data, reader_client):
    token = Token.objects.create(user=reader_client(CONSUMER.muid).user)

    response = client.get(UNITS, HTTP_AUTHORIZATION=f"Token {token.key}")

    assert [unit["muid"] for unit in response.json()] == [str(CONSUMER.muid)]


@pytest.mark.parametrize(
    ("path", "params", "queries"),
    [
        (READINGS, {"page_size": "5000"}, 2),
        # and one for the rollups' status and the retention boundary
        (AGGREGATE, {"interval": "15min", "start": "2023-02-01", "end": "2023-03-01"}, 3),
        (AGGREGATE, {"interval": "day", "start": "2023-02-01", "end": "2023-03-01"}, 3),
    ],
)
def test_a_token_request_takes_the_token_lookup_and_one_query_with_the_grants_inside(
    client, challenge_data, reader_client, django_assert_num_queries, path, params, queries
):
    token = Token.objects.create(user=reader_client(CONSUMER.muid, PRODUCER.muid).user)

    with django_assert_num_queries(queries):
        text = body(client.get(path, params, HTTP_AUTHORIZATION=f"Token {token.key}"))

    assert str(CONSUMER.muid) in text
    assert str(PRODUCER.muid) in text


def test_the_token_of_a_deactivated_user_is_refused(client, challenge_data, reader_client):
    user = reader_client(CONSUMER.muid).user
    token = Token.objects.create(user=user)
    user.is_active = False
    user.save()

    assert client.get(UNITS, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 401


def test_a_user_lists_only_the_units_granted_to_them(challenge_data, reader_client):
    reader = reader_client(PRODUCER.muid)

    assert [unit["muid"] for unit in reader.get(UNITS).json()] == [str(PRODUCER.muid)]


def test_a_user_without_grants_lists_no_unit(challenge_data, reader_client):
    assert reader_client().get(UNITS).json() == []


def test_a_unit_granted_to_one_of_the_users_groups_is_readable(challenge_data, reader_client):
    reader = reader_client()
    group = Group.objects.create(name="site-7")
    reader.user.groups.add(group)
    Unit.objects.get(muid=CONSUMER.muid).groups.add(group)

    assert [unit["muid"] for unit in reader.get(UNITS).json()] == [str(CONSUMER.muid)]


def test_a_unit_granted_both_directly_and_through_a_group_is_listed_once(
    challenge_data, reader_client
):
    reader = reader_client(CONSUMER.muid)
    group = Group.objects.create(name="site-7")
    reader.user.groups.add(group)
    Unit.objects.get(muid=CONSUMER.muid).groups.add(group)

    assert [unit["muid"] for unit in reader.get(UNITS).json()] == [str(CONSUMER.muid)]


def test_staff_list_every_unit(challenge_data, staff_client):
    assert len(staff_client.get(UNITS).json()) == 2


def test_a_hidden_unit_is_a_404_exactly_like_a_missing_one(challenge_data, reader_client):
    reader = reader_client(CONSUMER.muid)

    hidden = reader.get(f"{UNITS}{PRODUCER.muid}/")
    missing = reader.get(f"{UNITS}{NOWHERE}/")

    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())
    assert hidden.status_code == 404


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (READINGS, {}),
        (READINGS, {"ordering": "-timestamp", "page_size": "5000"}),
        (READINGS, {"format": "csv"}),
        (AGGREGATE, {"interval": "month"}),
        (AGGREGATE, {"interval": "day", "agg": "count", "format": "csv"}),
        (AGGREGATE, {"interval": "15min", "start": "2023-02-01", "end": "2023-02-02"}),
    ],
)
def test_readings_and_aggregates_hold_only_the_granted_units(
    challenge_data, reader_client, path, params
):
    text = body(reader_client(CONSUMER.muid).get(path, params))

    assert str(CONSUMER.muid) in text
    assert str(PRODUCER.muid) not in text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (READINGS, {}),
        (READINGS, {"format": "csv"}),
        (READINGS, {"obis": PRODUCER.obis, "start": "2023-02-01", "end": "2023-03-01"}),
        (AGGREGATE, {"interval": "day"}),
        # Without start/end the bucket limit reads the span of the selected channels; a hidden
        # unit's span must not change the answer either.
        (AGGREGATE, {"interval": "15min"}),
        (AGGREGATE, {"interval": "hour", "format": "csv"}),
    ],
)
def test_filtering_by_a_hidden_unit_answers_as_for_a_missing_one(
    challenge_data, reader_client, path, params
):
    reader = reader_client(CONSUMER.muid)

    hidden = reader.get(path, {**params, "muid": str(PRODUCER.muid)})
    missing = reader.get(path, {**params, "muid": str(NOWHERE)})

    assert hidden.status_code == missing.status_code
    assert body(hidden).replace(str(PRODUCER.muid), "M") == body(missing).replace(str(NOWHERE), "M")
    assert str(PRODUCER.muid) not in body(hidden).replace(f"muid={PRODUCER.muid}", "")


def test_the_schema_and_the_docs_stay_public(client, db):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/redoc/").status_code == 200
