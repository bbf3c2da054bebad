"""A frontend on another origin calls the API from Debian's headless Chromium with a token: the
browser hands it the answer when its origin is in DJANGO_CORS_ALLOWED_ORIGINS, and withholds
it otherwise. The frontend's page is served by a second loopback server (another port: another
origin)."""

import pytest
from rest_framework.authtoken.models import Token

from tests.analysis.test_browser import browser_page  # noqa: F401 - a fixture
from tests.conftest import CHALLENGE_UNITS

# Runs in the frontend's page: the API's units, as a frontend's code would ask for them.
FETCH_UNITS = """async ([url, token]) => {
    try {
        const response = await fetch(url, {headers: {Authorization: `Token ${token}`}});
        return {status: response.status, body: await response.json()};
    } catch (error) {
        return {error: String(error)};
    }
}"""


@pytest.fixture
def token(db, django_user_model) -> str:
    """An API token, made before the browser starts (no database access while it runs)."""
    user = django_user_model.objects.create_user("frontend", is_staff=True)
    return Token.objects.create(user=user).key


@pytest.fixture
def frontend(httpserver) -> str:
    """The URL of a frontend's page on its own origin."""
    httpserver.expect_request("/").respond_with_data(
        "<!doctype html><title>frontend</title>", content_type="text/html"
    )
    httpserver.expect_request("/favicon.ico").respond_with_data("", status=204)
    return httpserver.url_for("/")


def origin(url: str) -> str:
    return url.rstrip("/")


def test_an_allowed_frontend_reads_the_api_across_origins(
    token,
    frontend,
    settings,
    browser_page,  # noqa: F811
    live_server,
):
    settings.CORS_ALLOWED_ORIGINS = [origin(frontend)]
    browser_page.goto(frontend)

    answer = browser_page.evaluate(FETCH_UNITS, [f"{live_server.url}/api/v1/units/", token])

    assert answer.get("status") == 200, answer
    muids = {unit["muid"] for unit in answer["body"]}
    assert muids == {str(unit.muid) for unit in CHALLENGE_UNITS}


def test_a_frontend_not_allowed_gets_nothing(
    token,
    frontend,
    settings,
    browser_page,  # noqa: F811
    live_server,
):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    browser_page.goto(frontend)

    answer = browser_page.evaluate(FETCH_UNITS, [f"{live_server.url}/api/v1/units/", token])

    assert answer == {"error": "TypeError: Failed to fetch"}
    assert any("blocked by CORS policy" in error for error in browser_page.seen["errors"])
