"""Throttling per user and per anonymous client, and the bound on CSV rows per request."""

from rest_framework.authtoken.models import Token

from tests.conftest import CONSUMER
from tests.meters.api.conftest import READINGS, UNITS, body


def test_a_user_past_the_rate_gets_a_429_with_retry_after(challenge_data, staff_client, settings):
    settings.API_THROTTLE_USER = "3/minute"

    answers = [staff_client.get(UNITS).status_code for _ in range(4)]
    refused = staff_client.get(UNITS)

    assert answers == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "throttled" in refused.json()["errors"]["detail"][0]


def test_each_user_has_a_rate_of_their_own(challenge_data, reader_client, settings):
    settings.API_THROTTLE_USER = "2/minute"
    first, second = reader_client(CONSUMER.muid), reader_client(CONSUMER.muid)
    for _ in range(2):
        first.get(UNITS)

    assert first.get(UNITS).status_code == 429
    assert second.get(UNITS).status_code == 200


def test_a_token_and_a_session_of_one_user_share_a_rate(
    client, challenge_data, reader_client, settings
):
    settings.API_THROTTLE_USER = "2/minute"
    reader = reader_client(CONSUMER.muid)
    token = Token.objects.create(user=reader.user)
    reader.get(UNITS)
    client.get(UNITS, HTTP_AUTHORIZATION=f"Token {token.key}")

    assert reader.get(UNITS).status_code == 429


def test_anonymous_clients_are_throttled_on_the_public_schema(client, db, settings):
    # The data endpoints refuse them with a 401 before any throttle (or query) runs.
    settings.API_THROTTLE_ANON = "2/minute"
    statuses = [client.get("/api/schema/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_an_empty_rate_turns_the_throttle_off(challenge_data, staff_client, settings):
    settings.API_THROTTLE_USER = None

    assert {staff_client.get(UNITS).status_code for _ in range(30)} == {200}


def test_a_csv_export_past_the_row_limit_is_a_400_before_anything_is_streamed(
    api, challenge_data, settings
):
    settings.API_CSV_MAX_ROWS = CONSUMER.readings - 1

    response = api(READINGS, muid=str(CONSUMER.muid), format="csv")

    assert response.status_code == 400
    assert not response.streaming
    assert response.json()["errors"]["format"][0].startswith(
        f"More than {CONSUMER.readings - 1} readings match"
    )


def test_a_csv_export_at_the_row_limit_is_served_whole(api, challenge_data, settings):
    settings.API_CSV_MAX_ROWS = CONSUMER.readings

    response = api(READINGS, muid=str(CONSUMER.muid), format="csv")

    assert response.status_code == 200
    assert len(body(response).splitlines()) == 1 + CONSUMER.readings


def test_an_anonymous_client_cannot_escape_its_rate_by_varying_x_forwarded_for(
    client, db, settings
):
    settings.API_THROTTLE_ANON = "2/minute"

    statuses = [
        client.get("/api/schema/", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(3)
    ]

    assert statuses == [200, 200, 429]


def test_behind_a_proxy_a_client_is_the_address_the_proxy_saw(client, db, settings):
    settings.API_THROTTLE_ANON = "2/minute"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    def get(forwarded_for: str) -> int:
        return client.get("/api/schema/", HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    # What the client wrote itself comes first; the proxy appends the address it saw.
    same_client = [get(f"198.51.100.{i}, 203.0.113.7") for i in range(3)]

    assert same_client == [200, 200, 429]
    assert get("198.51.100.1, 203.0.113.8") == 200
