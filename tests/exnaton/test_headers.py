"""A Content-Security-Policy on every HTML page, `Cache-Control: private` on what a logged-in
user is answered, and the API's data compressed for a client that accepts it (never a page)."""

import gzip
import re

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.conftest import PRODUCER

PAGES = {
    "home": "/",
    "overview": "/analysis/",
    "report": f"/analysis/{PRODUCER.muid}/",
    "bad request page": "/analysis/?tz=Nowhere",
    "login": "/accounts/login/",
    "admin": "/admin/",
    "swagger ui": "/api/docs/",
    "redoc": "/api/redoc/",
    "browsable api": "/api/v1/units/?format=api",
}


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


@pytest.mark.parametrize("path", PAGES.values(), ids=PAGES.keys())
def test_every_html_page_runs_only_the_sites_own_scripts(admin_client, challenge_data, path):
    response = admin_client.get(path)

    assert response.status_code in (200, 400)
    assert response["Content-Type"].startswith("text/html")
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("path", ["/", "/analysis/", "/accounts/login/", "/api/docs/"])
def test_a_pages_own_style_carries_the_nonce_its_policy_names(admin_client, challenge_data, path):
    response = admin_client.get(path)

    (nonce,) = re.findall(r"'nonce-([^']+)'", " ".join(directives(response)["style-src"]))
    assert f'<style nonce="{nonce}">' in response.content.decode()
    assert "'unsafe-inline'" not in directives(response)["style-src"]


def test_the_nonce_is_new_on_every_response(admin_client, challenge_data):
    first, second = (directives(admin_client.get("/"))["style-src"] for _ in range(2))

    assert first != second


def test_swagger_ui_runs_its_start_up_script_from_a_file(admin_client, db):
    html = admin_client.get("/api/docs/").content.decode()

    assert "<script>" not in html
    assert admin_client.get("/api/docs/?script=").status_code == 200


def test_a_chart_image_keeps_its_own_stricter_policy(admin_client, challenge_data):
    response = admin_client.get(reverse("analysis:report_chart", args=[PRODUCER.muid, "series"]))

    assert directives(response)["default-src"] == ["'none'"]


@pytest.mark.parametrize(
    "path",
    ["/", "/analysis/", f"/analysis/{PRODUCER.muid}/", "/api/v1/units/", "/api/v1/readings/"],
)
def test_what_a_logged_in_user_is_answered_is_private(admin_client, challenge_data, path):
    response = admin_client.get(path)

    assert response.status_code == 200
    assert "private" in response["Cache-Control"]


def test_an_api_answer_to_a_token_is_private(client, challenge_data, admin_user):
    token = Token.objects.create(user=admin_user)

    response = client.get("/api/v1/units/", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 200
    assert "private" in response["Cache-Control"]


def test_a_views_own_cache_control_is_kept(admin_client, challenge_data):
    response = admin_client.get(reverse("analysis:report_chart", args=[PRODUCER.muid, "series"]))

    assert response["Cache-Control"] == "private, max-age=3600"


def test_the_public_schema_is_not_marked_private_for_an_anonymous_client(client, db):
    response = client.get("/api/schema/")

    assert "private" not in response.get("Cache-Control", "")


# The API's data in every form it is answered: JSON (a page, a streamed aggregate), CSV.
DATA = {
    "readings": "/api/v1/readings/?page_size=2000",
    "aggregate": "/api/v1/readings/aggregate/?interval=15min&agg=sum",
    "csv": "/api/v1/readings/csv/",
}


def content(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.mark.parametrize("path", DATA.values(), ids=DATA.keys())
def test_the_apis_data_is_gzipped_for_a_client_that_accepts_it(admin_client, challenge_data, path):
    plain = admin_client.get(path)
    compressed = admin_client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})

    data, wire = content(plain), content(compressed)

    assert compressed.status_code == plain.status_code == 200
    assert compressed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in compressed["Vary"]
    assert "Content-Encoding" not in plain
    assert gzip.decompress(wire) == data
    assert len(wire) < len(data) / 5


@pytest.mark.parametrize("path", PAGES.values(), ids=PAGES.keys())
def test_no_html_page_is_compressed(admin_client, challenge_data, path):
    # A page holds the CSRF token: compressed beside reflected input it would leak (BREACH).
    response = admin_client.get(path, headers={"Accept-Encoding": "gzip"})

    assert response["Content-Type"].startswith("text/html")
    assert "Content-Encoding" not in response
