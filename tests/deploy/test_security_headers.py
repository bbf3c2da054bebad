"""Headers and cookies of a response as production sends them (DEBUG off, HTTPS)."""

import pytest
from django.conf import settings as django_settings


@pytest.fixture
def https_client(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    return client


def test_pages_forbid_framing_sniffing_and_cross_origin_referrers(https_client, db):
    response = https_client.get("/accounts/login/", secure=True)

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"].startswith("max-age=3600")


def test_production_cookies_are_secure_and_the_session_cookie_is_out_of_scripts_reach(
    client, django_user_model, db
):
    # The defaults with DJANGO_DEBUG off, as the test settings load them.
    assert django_settings.SESSION_COOKIE_SECURE
    assert django_settings.CSRF_COOKIE_SECURE
    django_user_model.objects.create_user("ana", password="a long passphrase")

    response = client.post(
        "/accounts/login/", {"username": "ana", "password": "a long passphrase"}, secure=True
    )

    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert cookie["secure"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def test_the_admin_asks_for_a_login(client, db):
    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
