"""A frontend served from another origin calls the API from a browser (CORS): the origins of
DJANGO_CORS_ALLOWED_ORIGINS are answered with the headers a browser needs, the API only, with
a token rather than the session cookie. tests/meters/api/test_cors_in_browser.py runs the same in
Chromium."""

import pytest
from rest_framework.authtoken.models import Token

from tests.meters.api.conftest import AGGREGATE, UNITS

FRONTEND = "https://app.example.com"


@pytest.fixture
def frontend(settings):
    settings.CORS_ALLOWED_ORIGINS = [FRONTEND]


@pytest.fixture
def token(db, django_user_model) -> str:
    user = django_user_model.objects.create_user("frontend", is_staff=True)
    return Token.objects.create(user=user).key


def test_a_preflight_from_an_allowed_origin_is_answered_for_a_token(client, frontend):
    response = client.options(
        AGGREGATE,
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONTEND
    assert "authorization" in response["Access-Control-Allow-Headers"]
    assert "GET" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response


def test_an_api_answer_to_an_allowed_origin_says_so_and_lets_it_read_retry_after(
    client, frontend, token
):
    response = client.get(UNITS, headers={"Origin": FRONTEND, "Authorization": f"Token {token}"})

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONTEND
    assert response["Access-Control-Expose-Headers"] == "Retry-After"
    assert "origin" in response["Vary"].lower()  # a cache keeps one answer per origin


@pytest.mark.parametrize("origin", ["https://elsewhere.example.com", "http://app.example.com"])
def test_another_origin_gets_no_cors_header(client, frontend, token, origin):
    response = client.get(UNITS, headers={"Origin": origin, "Authorization": f"Token {token}"})

    assert response.status_code == 200  # the browser, not the server, withholds the answer
    assert "Access-Control-Allow-Origin" not in response


def test_pages_outside_the_api_get_no_cors_header(staff_client, frontend):
    response = staff_client.get("/analysis/", headers={"Origin": FRONTEND})

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_by_default_no_other_origin_is_allowed(client, token):
    response = client.get(UNITS, headers={"Origin": FRONTEND, "Authorization": f"Token {token}"})

    assert "Access-Control-Allow-Origin" not in response
